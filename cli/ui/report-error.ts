import { HostFileError, UserError, formatProblem } from '../errors.js'
import { ExitCode, type ExitCodeValue } from '../exit-codes.js'

// How an error reaches the terminal (STYLE.md §9): `keystone: <what>` and `  hint: <fix>`, with a
// stack trace only under KEYSTONE_DEBUG=1. Returns the exit code for main.ts to set.
export function reportError(error: unknown, write: (line: string) => void, debug: boolean): ExitCodeValue {
  if (error instanceof HostFileError) {
    for (const problem of error.problems) write(formatProblem(problem))
  }
  if (error instanceof UserError) {
    write(`keystone: ${error.message}`)
    if (error.hint !== undefined) write(`  hint: ${error.hint}`)
    if (debug && error.stack !== undefined) write(error.stack)
    return error.exitCode
  }
  const message = error instanceof Error ? error.message : String(error)
  write(`keystone: internal error: ${message}`)
  write('  hint: this is a bug in Keystone; run again with KEYSTONE_DEBUG=1 and report the output')
  if (debug && error instanceof Error && error.stack !== undefined) write(error.stack)
  return ExitCode.internal
}
