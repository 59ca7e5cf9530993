import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { formatProblem } from '../../cli/errors.js'
import { loadHostSource, type LoadResult } from '../../cli/host/load-host.js'
import { validateHostSchema } from '../../cli/host/validate-schema.js'
import { example, examples, hostile, hostileKey, mutate, mutation, textOf, where } from '../helpers/host-mutations.js'

// The loader's contract, on host files a person (or an editor, or a bad merge) could produce:
// it never throws, every problem is located on a real line and prints as one line, and what it
// accepts is a complete, JSON-shaped Host that the schema accepts again. A fresh seed each run
// (printed, and reusable with KEYSTONE_SEED=<n>).
const RUNS = 2000
const seed = Number(process.env.KEYSTONE_SEED ?? Math.floor(Math.random() * 2 ** 31))

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
