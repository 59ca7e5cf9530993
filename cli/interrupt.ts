import { UserError } from './errors.js'
import { ExitCode } from './exit-codes.js'

// Ctrl-C (or SIGTERM, or SIGHUP when the terminal goes) during a deploy, enroll, update or
// secrets edit: instead of dying with key material on
// disk and a half-run child, the work is aborted — children get SIGTERM through the signal,
// `finally` blocks wipe what was made — and the command exits 130 like a shell would.
export class Interrupted extends UserError {
  constructor(signal: string) {
    super(`interrupted (${signal}); nothing more was started`, {
      exitCode: ExitCode.interrupted,
      hint: 'the log shows where it stopped; run the command again to start over',
    })
    this.name = 'Interrupted'
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export async function withInterrupt<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const onSignal = (signal: NodeJS.Signals) => {
    if (!controller.signal.aborted) controller.abort(new Interrupted(signal))
  }
  for (const signal of SIGNALS) process.on(signal, onSignal)
  try {
    const result = await work(controller.signal)
    controller.signal.throwIfAborted()
    return result
  } catch (error) {
    // Whatever the aborted step threw (a killed child, a closed connection), the cause is the
    // signal.
    if (controller.signal.aborted) throw controller.signal.reason
    throw error
  } finally {
    for (const signal of SIGNALS) process.off(signal, onSignal)
  }
}
