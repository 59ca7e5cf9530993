import { execFile } from 'node:child_process'

// Types each line after a pause, as a person would, into the command's terminal.
export function onTerminal(command: string, lines: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
  return new Promise<{ code: number; screen: string }>((resolve) => {
    const child = execFile('script', ['-qec', command, '/dev/null'], { cwd: options.cwd, env: { ...process.env, ...options.env } }, (error, stdout) =>
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? 1), screen: stdout }),
    )
    let delay = 800
    for (const line of lines) {
      setTimeout(() => child.stdin!.write(`${line}\r`), delay)
      delay += 500
    }
    setTimeout(() => child.stdin!.end(), delay + 1500)
  })
}
