import { ExitCode, type ExitCodeValue } from './exit-codes.js'

// The one error family a user ever sees (STYLE.md §7). Anything that is not a UserError is a
// bug in Keystone and is reported as internal (exit 70).
export class UserError extends Error {
  readonly hint: string | undefined
  readonly exitCode: ExitCodeValue

  constructor(message: string, options: { hint?: string; exitCode?: ExitCodeValue; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'UserError'
    this.hint = options.hint
    this.exitCode = options.exitCode ?? ExitCode.failure
  }
}

export class UsageError extends UserError {
  constructor(message: string, hint?: string) {
    super(message, { exitCode: ExitCode.usage, ...(hint === undefined ? {} : { hint }) })
    this.name = 'UsageError'
  }
}

// One problem in one host file, located so that an editor can jump to it.
export interface HostProblem {
  file: string
  line: number
  col: number
  // Dotted path inside the host file (`storage.disks[0]`), or '' for the whole file.
  path: string
  message: string
  hint?: string
}

// Each part is cut to a sane width: a message may quote the file (a parser quotes the token it
// stopped at), and a line of the file may be a hundred kilobytes long.
const MAX_PART = 300
const cut = (text: string) => (text.length > MAX_PART ? `${text.slice(0, MAX_PART - 3)}...` : text)

export function formatProblem(p: HostProblem): string {
  const where = p.path === '' ? '' : `${cut(p.path)}: `
  const hint = p.hint === undefined ? '' : ` — hint: ${cut(p.hint)}`
  return `${p.file}:${p.line}:${p.col}: ${where}${cut(p.message)}${hint}`
}

// Every problem found in one or more host files, reported together rather than one per run.
export class HostFileError extends UserError {
  readonly problems: HostProblem[]

  constructor(problems: HostProblem[]) {
    const files = new Set(problems.map((p) => p.file)).size
    const count = problems.length
    super(
      `${count} problem${count === 1 ? '' : 's'} in ${files} host file${files === 1 ? '' : 's'}`,
      { hint: 'fix the lines above, then run `keystone check` again' },
    )
    this.name = 'HostFileError'
    this.problems = problems
  }
}
