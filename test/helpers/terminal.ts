import { execFile } from 'node:child_process'

// Runs the command on a real pseudo-terminal (script(1)) and types each step's line once its
// prompt is on the screen, as a person would. Waiting for the prompt rather than a fixed time:
// under load a command may start later than any delay, and a line typed before the prompt put
// the terminal in raw mode is echoed by the terminal itself.
export interface TerminalStep {
  // Text the screen shows (after the previous step's line) before this line is typed.
  after: string
  type: string
}

const PROMPT_TIMEOUT_MS = 60_000

export function onTerminal(
  command: string,
  steps: TerminalStep[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
) {
  return new Promise<{ code: number; screen: string }>((resolve) => {
    const child = execFile(
      'script',
      ['-qec', command, '/dev/null'],
      { cwd: options.cwd, env: { ...process.env, ...options.env } },
      (error, stdout) => {
        clearTimeout(giveUp)
        resolve({
          code: error === null ? 0 : ((error as { code?: number }).code ?? 1),
          screen: stdout,
        })
      },
    )
    let screen = ''
    let from = 0
    let next = 0
    const endInput = () => setTimeout(() => child.stdin!.end(), 1500)
    // A prompt that never comes: stdin is closed, the command ends and the test sees its screen.
    const giveUp = setTimeout(() => child.stdin!.end(), PROMPT_TIMEOUT_MS)
    child.stdout!.on('data', (data: Buffer) => {
      screen += data.toString()
      const step = steps[next]
      if (step === undefined || !screen.slice(from).includes(step.after)) return
      child.stdin!.write(`${step.type}\r`)
      from = screen.length
      next += 1
      if (next === steps.length) endInput()
    })
    if (steps.length === 0) endInput()
  })
}
