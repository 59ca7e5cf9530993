import { createWriteStream, type WriteStream } from 'node:fs'
import { execa } from 'execa'
import { UserError } from '../errors.js'
import type { Output } from '../ui/output.js'
import type { PhaseProgress } from '../ui/phase-progress.js'
import { explainFailure } from './explain-failure.js'

// Runs a deploy's phases one after another, each a named process with a timer: its output goes
// to the log file in full and is kept in memory only as its last lines. A failing phase stops
// the run with the phase, those lines and a one-line cause; no later phase starts.

export interface PhaseCommand {
  name: string
  summary: string
  file: string
  args: string[]
}

export interface PhaseRunOptions {
  logFile: string
  cwd: string
  signal: AbortSignal
  output: Output
  progress: PhaseProgress
  // Runs after a phase succeeded, before the next starts (e.g. adding the hardware report to git).
  after?: (phase: string) => Promise<void>
}

const TAIL = 15

export async function runPhases(phases: PhaseCommand[], options: PhaseRunOptions): Promise<void> {
  const log = createWriteStream(options.logFile, { flags: 'a', mode: 0o600 })
  try {
    for (const [index, phase] of phases.entries()) {
      options.signal.throwIfAborted()
      const label = `[${index + 1}/${phases.length}] ${phase.name}: ${phase.summary}`
      log.write(`\n=== ${phase.name}: ${[phase.file, ...phase.args].join(' ')}\n`)
      options.progress.start(label)
      const began = Date.now()
      const result = await runOne(phase, options, log)
      const ms = Date.now() - began
      if (result.ok) {
        options.progress.done(label, ms)
        await options.after?.(phase.name)
        continue
      }
      options.progress.failed(label, ms)
      options.signal.throwIfAborted()
      for (const line of result.tail) options.output.err(`  │ ${line}`)
      throw new UserError(`${phase.name} failed: ${explainFailure(result.tail)}`, {
        hint: `nothing after ${phase.name} was run; the full output is in ${options.logFile}`,
      })
    }
  } finally {
    await new Promise<void>((resolve) => log.end(resolve))
  }
}

async function runOne(
  phase: PhaseCommand,
  options: PhaseRunOptions,
  log: WriteStream,
): Promise<{ ok: boolean; tail: string[] }> {
  const tail: string[] = []
  const child = execa(phase.file, phase.args, {
    cwd: options.cwd,
    all: true,
    buffer: false,
    reject: false,
    stdin: 'ignore',
    cancelSignal: options.signal,
    forceKillAfterDelay: 5_000,
  })
  let partial = ''
  child.all?.setEncoding('utf8')
  child.all?.on('data', (chunk: string) => {
    log.write(chunk)
    const lines = (partial + chunk).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) {
      tail.push(line)
      if (tail.length > TAIL) tail.shift()
    }
  })
  const result = await child
  if (partial !== '') tail.push(partial)
  if (result.failed && 'code' in result && result.code === 'ENOENT')
    throw new UserError(`\`${phase.file}\` is not installed on this machine`, {
      hint: 'install Nix (Debian: nix-bin) or run Keystone from `nix develop`',
    })
  log.write(`=== ${phase.name}: exit ${result.exitCode ?? result.signal ?? '?'}\n`)
  return { ok: !result.failed, tail: tail.slice(-TAIL) }
}
