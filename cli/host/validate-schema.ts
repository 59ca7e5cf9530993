import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv'
import { closestMatch } from '../ui/closest-match.js'
import { HOST_NAME_PATTERN, suggestHostName } from './host-name.js'
import { shippedSchemaText } from './shipped-schema.js'
import type { PathSegment } from './parse-yaml.js'
import type { PathProblem } from './path-problem.js'

// The one door to `ajv`: validates a parsed host file against the JSON Schema, fills in defaults,
// and turns ajv's errors into problems a person can act on ("expected …, got …", a hint).

interface Annotated {
  description?: string
  errorMessage?: string
  'x-hint'?: string
  enum?: string[]
  properties?: Record<string, Annotated>
}

// Strict, every error at once, defaults filled in, and Keystone's two annotation keywords.
export function createAjv(options: Options = {}): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, allowUnionTypes: true, strict: true, ...options })
  ajv.addKeyword({ keyword: 'errorMessage', schemaType: 'string' })
  ajv.addKeyword({ keyword: 'x-hint', schemaType: 'string' })
  return ajv
}

let compiled: ValidateFunction | undefined

function validator(): ValidateFunction {
  // Checking the schema against the draft-07 meta-schema, and a second pass over the generated
  // code, would cost ~25 ms in every command; test/host/validate-schema.test.ts does the first.
  compiled ??= createAjv({ validateSchema: false, code: { optimize: false } }).compile(JSON.parse(shippedSchemaText()) as object)
  return compiled
}

// `got` in a message: the value itself for scalars, its kind for the rest.
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing'
  // A short quote: never more than a line of the file, and never much of a value that should
  // not have been there.
  if (typeof value === 'string') {
    const line = value.split('\n')[0]!
    return `\`${line.length > 40 || line !== value ? line.slice(0, 37) + '...' : line}\``
  }
  if (typeof value === 'number' || typeof value === 'boolean') return `\`${value}\``
  if (Array.isArray(value)) return 'a list'
  return 'a mapping'
}

const TYPE_NAMES: Record<string, string> = {
  string: 'text',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  null: 'null',
}

function pathOf(instancePath: string): PathSegment[] {
  if (instancePath === '') return []
  return instancePath
    .slice(1)
    .split('/')
    .map((raw) => raw.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((segment) => (/^(0|[1-9][0-9]*)$/.test(segment) ? Number(segment) : segment))
}

// Source text of a scalar, to explain values YAML read as something else than they look.
export type SourceText = (path: readonly PathSegment[]) => string | undefined

// `meant`: the key that an unknown key's did-you-mean names, so that `adress:` is reported once,
// not also as a missing `address`.
type Translated = PathProblem & { meant?: PathSegment[]; missing?: true }

function translate(error: ErrorObject, sourceText: SourceText): Translated {
  const path = pathOf(error.instancePath)
  const schema = (error.parentSchema ?? {}) as Annotated
  const hint = schema['x-hint']
  const got = describeValue(error.data)
  const withHint = (message: string, extraHint?: string): PathProblem => {
    const h = extraHint ?? hint
    return h === undefined ? { path, atKey: false, message } : { path, atKey: false, message, hint: h }
  }
  switch (error.keyword) {
    case 'required': {
      const missing = (error.params as { missingProperty: string }).missingProperty
      const about = schema.properties?.[missing]?.description
      const how = schema.properties?.[missing]?.['x-hint']
      return {
        missing: true,
        path: [...path, missing],
        atKey: true,
        message: `missing required key \`${missing}\``,
        hint: `add \`${missing}:\` here${about === undefined ? '' : ` (${about.replace(/\.$/, '')})`}${how === undefined ? '' : `; ${how}`}`,
      }
    }
    case 'additionalProperties': {
      const extra = (error.params as { additionalProperty: string }).additionalProperty
      const allowed = Object.keys(schema.properties ?? {})
      const guess = closestMatch(extra, allowed)
      const problem = { path: [...path, extra], atKey: true, message: `unknown key \`${extra}\`` }
      return guess === undefined
        ? { ...problem, hint: `allowed keys here: ${allowed.join(', ')}` }
        : { ...problem, hint: `did you mean \`${guess}\`?`, meant: [...path, guess] }
    }
    case 'type': {
      const types = String((error.params as { type: string }).type).split(',')
      const expected = `expected ${types.map((t) => TYPE_NAMES[t] ?? t).join(' or ')}`
      const written = sourceText(path)
      const surprising = typeof error.data === 'number' || typeof error.data === 'boolean'
      if (types.includes('string') && surprising && written !== undefined) {
        return withHint(
          `${expected}, got \`${written}\`, which YAML reads as ${typeof error.data === 'number' ? 'a number' : 'a boolean'}`,
          `put it in quotes: "${written}"`,
        )
      }
      // `"22"`, `yes` and a key pasted inline look like a number, a boolean and a list, but are text.
      if (typeof error.data === 'string') {
        const fix = types.includes('array')
          ? 'write each item on its own line, starting with `- `'
          : types.includes('boolean') && /^(yes|no|on|off)$/i.test(error.data)
            ? 'write true or false; YAML 1.2 reads yes, no, on and off as text'
            : /^(true|false|-?[0-9]+)$/.test(error.data)
              ? 'remove the quotes'
              : undefined
        return withHint(`${expected}, got the text ${got}`, fix)
      }
      return withHint(`${expected}, got ${got}`)
    }
    case 'enum': {
      const allowed = schema.enum ?? []
      const guess = typeof error.data === 'string' ? closestMatch(error.data, allowed) : undefined
      return withHint(
        `expected one of ${allowed.join(', ')}, got ${got}`,
        guess === undefined ? undefined : `did you mean \`${guess}\`?`,
      )
    }
    case 'pattern': {
      const message = `expected ${schema.errorMessage ?? `text matching ${(error.params as { pattern: string }).pattern}`}, got ${got}`
      // A host name is offered that passes, rather than a rule to apply by hand.
      if ((error.params as { pattern: string }).pattern === HOST_NAME_PATTERN && typeof error.data === 'string')
        return withHint(message, `write \`${suggestHostName(error.data)}\`, and name the file after it`)
      return withHint(message)
    }
    case 'minItems': {
      const limit = (error.params as { limit: number }).limit
      const count = Array.isArray(error.data) ? error.data.length : 0
      return withHint(`expected at least ${limit} item${limit === 1 ? '' : 's'}, got ${count}`)
    }
    case 'minimum':
    case 'maximum': {
      if (schema.errorMessage !== undefined) return withHint(`expected ${schema.errorMessage}, got ${got}`)
      const { comparison, limit } = error.params as { comparison: string; limit: number }
      return withHint(`expected a number ${comparison} ${limit}, got ${got}`)
    }
    case 'minLength':
      return withHint(`expected non-empty text, got ${got}`)
    default:
      return withHint(`${error.message ?? 'is invalid'}, got ${got}`)
  }
}

export type SchemaResult = { ok: true; value: unknown } | { ok: false; problems: PathProblem[] }

// Validates in place: on success `value` has every default filled in.
export function validateHostSchema(value: unknown, sourceText: SourceText = () => undefined): SchemaResult {
  const validate = validator()
  if (validate(value)) return { ok: true, value }
  const translated = (validate.errors ?? []).map((e) => translate(e, sourceText))
  // A value that fails both its type and its pattern is one problem, not two; so is a misspelt
  // required key.
  const meant = new Set(translated.flatMap((p) => (p.meant === undefined ? [] : [JSON.stringify(p.meant)])))
  const seen = new Set<string>()
  const problems: PathProblem[] = []
  for (const { meant: _, missing, ...problem } of translated) {
    const key = JSON.stringify(problem.path)
    if (seen.has(key) || (missing === true && meant.has(key))) continue
    seen.add(key)
    problems.push(problem)
  }
  return { ok: false, problems }
}
