import { readFileSync } from 'node:fs'
import path from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { formatProblem } from '../../cli/errors.js'
import { loadHostSource, type LoadResult } from '../../cli/host/load-host.js'
import { validateHostSchema } from '../../cli/host/validate-schema.js'

// The loader's contract, on host files a person (or an editor, or a bad merge) could produce:
// it never throws, every problem is located on a real line and prints as one line, and what it
// accepts is a complete, JSON-shaped Host that the schema accepts again. A fresh seed each run
// (printed, and reusable with KEYSTONE_SEED=<n>).
const RUNS = 2000
const seed = Number(process.env.KEYSTONE_SEED ?? Math.floor(Math.random() * 2 ** 31))

const root = path.resolve(import.meta.dirname, '../..')
const examples = ['web1', 'storage1', 'desk1'].map((name) => ({
  file: `hosts/${name}.yaml`,
  text: readFileSync(path.join(root, 'hosts', `${name}.yaml`), 'utf8'),
}))
// By file name, so that a counterexample prints as a few words rather than a whole host file.
const example = fc.constantFrom(...examples.map((e) => e.file))
const textOf = (file: string) => examples.find((e) => e.file === file)!.text

// Values that have broken YAML loaders or what comes after them: YAML 1.1 spellings, numbers
// YAML reads differently than they look, anchors, aliases and tags, flow and block syntax where a
// scalar is expected, prototype keys, Nix interpolation, terminal escapes, and deep nesting.
const HOSTILE = [
  'true', 'false', 'yes', 'no', 'on', 'off', 'null', '~', '', '0', '-1', '8425e349', '0x1F', '0o17',
  '1e400', '.nan', '.inf', '-.inf', '00000000', '12345678', '3.14', '"quoted \\" text"', "'single ''q'''",
  '&a value', '*a', '*missing', '&a [*a, *a]', '<<: *a', '!!binary aGVsbG8=', '!!timestamp 2001-12-14',
  '!!set {a, b}', '!!omap [a: 1]', '!!str 8425e349', '!!int 22', '!!float nope', '!foo bar', '!!map {}',
  '{}', '[]', '[a, b]', '{a: 1}', '{', '[', ']', '}', '|', '>-', '|\n  block\n  text', '- item', '? key',
  ': value', '---', '...', '%YAML 1.1', '# comment', '@at', '`tick`', '${}', '${pkgs.hello}', "''${x}",
  '__proto__', 'constructor', '__proto__: {polluted: true}', '"\\u0000"', '"\\x1b[31mred"', '\u2028',
  '🔑 é ß', '/dev/sda', '/dev/disk/by-id/x-part1', 'ssh-ed25519 AAAA', '-----BEGIN OPENSSH PRIVATE KEY-----',
  'file:///etc/key', 'http://x', 's3://b', '100%', '1.5G', '0G', '9999999999999999999T',
  '['.repeat(2000), '{a: '.repeat(500), '- '.repeat(500), '*a '.repeat(200),
]

const hostile = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...HOSTILE) },
  fc.integer().map(String),
  fc.double().map(String),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  fc.constantFrom(1_000, 100_000).map((n) => 'A'.repeat(n)),
)

// Keys that name Object's own methods, or are not plain text, beside any hostile value.
const hostileKey = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '<<', '? [a]', '"quoted key"', '1', 'true', 'null', '~', '""', 'com.sun:auto-snapshot'),
  hostile,
)

// Positions are fractions of the text or of its lines, so that a mutation applies to any input
// and fast-check can print and shrink it as data.
const where = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete-line' as const), at: where }),
  fc.record({ kind: fc.constant('duplicate-line' as const), at: where }),
  fc.record({ kind: fc.constant('swap-lines' as const), at: where, with: where }),
  fc.record({ kind: fc.constant('indent' as const), at: where, by: fc.oneof(fc.integer({ min: -4, max: 4 }), fc.constant('tab' as const)) }),
  fc.record({ kind: fc.constant('replace-value' as const), at: where, value: hostile }),
  fc.record({ kind: fc.constant('replace-key' as const), at: where, value: hostileKey }),
  fc.record({ kind: fc.constant('add-key' as const), at: where, key: hostileKey, value: hostile }),
  fc.record({ kind: fc.constant('delete-chars' as const), at: where, length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('insert-chars' as const), at: where, value: hostile }),
  fc.record({ kind: fc.constant('truncate' as const), at: where }),
)
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

const SCALAR_LINE = /^(\s*(?:- )?[^\s:#][^:#]*:[ ]+)(\S.*)$|^(\s*- )(\S.*)$/
const KEY_LINE = /^(\s*(?:- )?)([^\s:#][^:#]*)(:.*)$/

function mutate(text: string, m: Mutation): string {
  const lines = text.split('\n')
  const line = (f: number) => Math.floor(f * lines.length)
  const char = (f: number) => Math.floor(f * (text.length + 1))
  const pick = (pattern: RegExp, f: number) => {
    const candidates = lines.flatMap((l, i) => (pattern.test(l) ? [i] : []))
    return candidates[Math.floor(f * candidates.length)]
  }
  switch (m.kind) {
    case 'delete-line':
      lines.splice(line(m.at), 1)
      break
    case 'duplicate-line':
      lines.splice(line(m.at), 0, lines[line(m.at)]!)
      break
    case 'swap-lines': {
      const [i, j] = [line(m.at), line(m.with)]
      ;[lines[i], lines[j]] = [lines[j]!, lines[i]!]
      break
    }
    case 'indent': {
      const i = line(m.at)
      const [, spaces = '', rest = ''] = /^( *)(.*)$/s.exec(lines[i]!) ?? []
      lines[i] = m.by === 'tab' ? `\t${rest}` : ' '.repeat(Math.max(0, spaces.length + m.by)) + rest
      break
    }
    case 'replace-value': {
      const i = pick(SCALAR_LINE, m.at)
      if (i !== undefined) lines[i] = lines[i]!.replace(SCALAR_LINE, (_, a, b, c) => `${a ?? c}${m.value}`)
      break
    }
    case 'replace-key': {
      const i = pick(KEY_LINE, m.at)
      if (i !== undefined) lines[i] = lines[i]!.replace(KEY_LINE, (_, indent, _key, rest) => `${indent}${m.value}${rest}`)
      break
    }
    case 'add-key': {
      // A sibling of an existing key: in a free-form map such as a dataset's options, it is valid.
      const i = pick(KEY_LINE, m.at)
      if (i !== undefined) lines.splice(i + 1, 0, `${' '.repeat(/^[ -]*/.exec(lines[i]!)![0].length)}${m.key}: ${m.value}`)
      break
    }
    case 'delete-chars':
      return text.slice(0, char(m.at)) + text.slice(char(m.at) + m.length)
    case 'insert-chars':
      return text.slice(0, char(m.at)) + m.value + text.slice(char(m.at))
    case 'truncate':
      return text.slice(0, char(m.at))
  }
  return lines.join('\n')
}

// What must hold of any result; returns the first violation.
function violation(result: LoadResult, file: string, text: string): string | undefined {
  if (result.ok) {
    const { host } = result.loaded
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(host)), host)) return 'the host is not plain JSON data'
    const again = validateHostSchema(structuredClone(host))
    if (!again.ok) return `the loaded host fails the schema: ${JSON.stringify(again.problems)}`
    if (!isDeepStrictEqual(again.value, host)) return 'validating the loaded host again changed it'
    return undefined
  }
  if (result.problems.length === 0) return 'rejected without a problem'
  const lineCount = text.split(/\r\n|\r|\n/).length
  for (const p of result.problems) {
    if (p.file !== file) return `problem names file ${p.file}`
    if (!Number.isInteger(p.line) || p.line < 1 || p.line > lineCount) return `line ${p.line} is not one of the ${lineCount} lines`
    if (!Number.isInteger(p.col) || p.col < 1) return `column ${p.col} is not positive`
    if (typeof p.message !== 'string' || p.message.trim() === '') return 'empty message'
    if (/[\n\r\u001b]/.test(formatProblem(p))) return `problem does not print as one plain line: ${JSON.stringify(formatProblem(p))}`
  }
  return undefined
}

t.comment(`seed ${seed} (rerun with KEYSTONE_SEED=${seed})`)

t.test('the example hosts load', async (t) => {
  for (const { file, text } of examples) t.match(loadHostSource(text, file), { ok: true }, file)
})

t.test('mutated example hosts never throw, and every problem is located', async (t) => {
  const input = fc.record({ file: example, mutations: fc.array(mutation, { minLength: 1, maxLength: 4 }) })
  let rejected = 0
  fc.assert(
    fc.property(input, ({ file, mutations }) => {
      const text = mutations.reduce(mutate, textOf(file))
      const result = loadHostSource(text, file)
      if (!result.ok) rejected++
      const wrong = violation(result, file, text)
      if (wrong !== undefined) throw new Error(wrong)
    }),
    { numRuns: RUNS, seed },
  )
  // A mutator that rarely breaks anything would test little.
  t.ok(rejected > RUNS / 2, `${rejected} of ${RUNS} mutated files rejected`)
})

// Random mutations rarely leave a file valid enough for the semantic checks to run. Here hostile
// text goes, quoted, where the schema takes any string: a dataset option (name and value), the
// SSH address, an admin's key and the host key.
t.test('any text in free-form fields is reported, never thrown on', async (t) => {
  const text = fc.oneof(hostileKey, hostile, fc.string({ unit: 'binary', maxLength: 40 }))
  const input = fc.record({ optionName: text, optionValue: text, address: text, adminKey: text, hostKey: text })
  const web1 = textOf('hosts/web1.yaml')
  fc.assert(
    fc.property(input, (v) => {
      // JSON strings are YAML double-quoted scalars.
      const q = (s: string) => JSON.stringify(s)
      const source = web1
        .replace('recordsize: 1M', `recordsize: 1M\n        ${q(v.optionName)}: ${q(v.optionValue)}`)
        .replace('address: 192.0.2.10', `address: ${q(v.address)}\n  hostKey: ${q(v.hostKey)}`)
        .replace(/- ssh-ed25519 .*/, `- ${q(v.adminKey)}`)
      const wrong = violation(loadHostSource(source, 'hosts/web1.yaml'), 'hosts/web1.yaml', source)
      if (wrong !== undefined) throw new Error(wrong)
    }),
    { numRuns: 1000, seed },
  )
  t.pass('1000 hosts with hostile free text')
})

// Edits that do not change meaning must not change the loaded host.
const harmless = fc.oneof(
  fc.record({ kind: fc.constant('comment' as const), at: where, text: fc.string({ unit: 'grapheme', maxLength: 30 }) }),
  fc.record({ kind: fc.constant('blank-line' as const), at: where }),
  fc.record({ kind: fc.constant('trailing-spaces' as const), at: where, count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant('crlf' as const) }),
)
type Harmless = typeof harmless extends fc.Arbitrary<infer M> ? M : never

function edit(text: string, h: Harmless): string {
  if (h.kind === 'crlf') return text.replace(/\r?\n/g, '\r\n')
  const eol = text.includes('\r\n') ? '\r\n' : '\n'
  const lines = text.split(eol)
  const i = Math.floor(h.at * lines.length)
  if (h.kind === 'comment') lines.splice(i, 0, `# ${h.text.replace(/[\r\n\u0085\u2028\u2029]/g, ' ')}`)
  if (h.kind === 'blank-line') lines.splice(i, 0, '')
  if (h.kind === 'trailing-spaces') lines[i] += ' '.repeat(h.count)
  return lines.join(eol)
}

t.test('comments, blank lines, trailing spaces and CRLF leave the host unchanged', async (t) => {
  const expected = new Map(examples.map(({ file, text }) => [file, loadHostSource(text, file)]))
  const input = fc.record({ file: example, edits: fc.array(harmless, { minLength: 1, maxLength: 5 }) })
  fc.assert(
    fc.property(input, ({ file, edits }) => {
      const result = loadHostSource(edits.reduce(edit, textOf(file)), file)
      if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'))
      const before = expected.get(file)!
      if (!before.ok || !isDeepStrictEqual(result.loaded.host, before.loaded.host)) throw new Error('the host changed')
    }),
    { numRuns: 300, seed },
  )
  t.pass('300 harmless edits')
})
