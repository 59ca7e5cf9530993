import { closeSync, constants, lstatSync, openSync, readFileSync, type Stats } from 'node:fs'
import path from 'node:path'
import type { HostProblem } from '../errors.js'
import type { Host } from './host-schema.js'
import { parseYaml, type ParsedYaml } from './parse-yaml.js'
import { formatPath, oneLine, type PathProblem } from './path-problem.js'
import { checkHost } from './semantic-checks.js'
import { describeValue, validateHostSchema } from './validate-schema.js'

export interface LoadedHost {
  host: Host
  // Path shown to the user, relative to the fleet root (`hosts/web1.yaml`).
  file: string
  parsed: ParsedYaml
}

export type LoadResult = { ok: true; loaded: LoadedHost } | { ok: false; problems: HostProblem[] }

export function locateProblem(file: string, parsed: ParsedYaml, problem: PathProblem): HostProblem {
  const position = problem.atKey ? parsed.locateKey(problem.path) : parsed.locate(problem.path)
  const located: HostProblem = { file, ...position, path: oneLine(formatPath(problem.path)), message: oneLine(problem.message) }
  if (problem.hint !== undefined) located.hint = oneLine(problem.hint)
  return located
}

// Problems are listed top to bottom, as a person reads and fixes the file.
const byPosition = (a: HostProblem, b: HostProblem) => a.line - b.line || a.col - b.col

// Parses and checks one host file's text. Never throws for bad content: every problem comes back
// located, so that a caller can report all of them at once.
export function loadHostSource(source: string, file: string): LoadResult {
  const parsed = parseYaml(source)
  if (parsed.errors.length > 0) {
    return {
      ok: false,
      problems: parsed.errors.map((e) => ({ file, ...e.position, path: '', message: oneLine(`YAML: ${e.message}`), hint: e.hint ?? 'fix the YAML syntax; indentation uses spaces' })),
    }
  }
  const { value } = parsed
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const got = value === null ? 'an empty document' : describeValue(value)
    const hint = Array.isArray(value) ? 'write the settings as `key: value` lines at the start of the line, without a leading `- `' : 'start from `keystone host new <name>`'
    return { ok: false, problems: [{ file, ...parsed.locate([]), path: '', message: oneLine(`expected a mapping of host settings, got ${got}`), hint }] }
  }
  const schema = validateHostSchema(parsed.value, parsed.sourceText)
  if (!schema.ok) return { ok: false, problems: schema.problems.map((p) => locateProblem(file, parsed, p)).sort(byPosition) }
  const host = schema.value as Host
  const stem = path.basename(file).replace(/\.ya?ml$/, '')
  const problems = checkHost(host, stem).map((p) => locateProblem(file, parsed, p)).sort(byPosition)
  return problems.length > 0 ? { ok: false, problems } : { ok: true, loaded: { host, file, parsed } }
}

// What a host file must be: a regular file of hosts/ itself. A symlink could point anywhere (a
// private key, a device), a FIFO would block the read forever: both are refused by name, from
// lstat, without being opened.
const NOT_REGULAR: [(info: Stats) => boolean, string][] = [
  [(info) => info.isSymbolicLink(), 'a symbolic link'],
  [(info) => info.isDirectory(), 'a directory'],
  [(info) => info.isFIFO(), 'a FIFO'],
  [(info) => info.isSocket(), 'a socket'],
  [(info) => info.isBlockDevice() || info.isCharacterDevice(), 'a device'],
]

// The most of a host file Keystone reads: far more than any host needs.
export const MAX_HOST_FILE_BYTES = 1 << 20

// Reads synchronously, like fs/read-if-exists.ts: a fleet is hundreds of small files.
export async function loadHostFile(absolutePath: string, file: string): Promise<LoadResult> {
  const refuse = (message: string, hint?: string): LoadResult => ({
    ok: false,
    problems: [{ file, line: 1, col: 1, path: '', message, ...(hint !== undefined && { hint }) }],
  })
  let source: string
  try {
    const info = lstatSync(absolutePath)
    const kind = NOT_REGULAR.find(([test]) => test(info))?.[1]
    if (kind !== undefined)
      return refuse(
        `is ${kind}, not a regular file; it was not opened`,
        `host files are plain files in hosts/: replace it with the file itself, or move it out of hosts/`,
      )
    if (info.size > MAX_HOST_FILE_BYTES)
      return refuse(
        `is ${info.size} bytes, more than a host file may be (${MAX_HOST_FILE_BYTES})`,
        'a host file holds one host’s settings: see `keystone host new <name>`',
      )
    // O_NOFOLLOW: a file swapped for a symlink after the lstat is still not followed.
    const fd = openSync(absolutePath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    try {
      source = readFileSync(fd, 'utf8')
    } finally {
      closeSync(fd)
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'no such file' : code === 'ELOOP' ? 'it is a symbolic link' : (code ?? 'unreadable')
    return refuse(`cannot read the host file: ${reason}`)
  }
  return loadHostSource(source, file)
}
