import { readFileSync } from 'node:fs'
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

// Reads synchronously, like fs/read-if-exists.ts: a fleet is hundreds of small files.
export async function loadHostFile(absolutePath: string, file: string): Promise<LoadResult> {
  let source: string
  try {
    source = readFileSync(absolutePath, 'utf8')
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message
    return { ok: false, problems: [{ file, line: 1, col: 1, path: '', message: `cannot read the host file: ${reason}` }] }
  }
  return loadHostSource(source, file)
}
