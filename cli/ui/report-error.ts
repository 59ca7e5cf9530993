import { HostFileError, UserError, formatProblem } from '../errors.js'
import { ExitCode, type ExitCodeValue } from '../exit-codes.js'

// How an error reaches the terminal (STYLE.md §9): `keystone: <what>` and `  hint: <fix>`, with a
// stack trace only under KEYSTONE_DEBUG=1. Returns the exit code for main.ts to set.
const PROBLEMS_PER_FILE = 8

export function reportError(error: unknown, write: (line: string) => void, debug: boolean): ExitCodeValue {
  if (error instanceof HostFileError) {
    // A garbled file can yield a hundred problems, most of them echoes of the first: a few of
    // each file are shown, then how many more there are.
    const shown = new Map<string, number>()
    for (const problem of error.problems) {
      const count = (shown.get(problem.file) ?? 0) + 1
      shown.set(problem.file, count)
      if (count <= PROBLEMS_PER_FILE) write(formatProblem(problem))
    }
    for (const [file, count] of shown)
      if (count > PROBLEMS_PER_FILE)
        write(`${file}: ${count - PROBLEMS_PER_FILE} more problems, not shown; fix the ones above first`)
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
