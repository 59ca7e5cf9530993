import fc from 'fast-check'
import t from 'tap'
import { emitNix, type NixValue } from '../../cli/nix/emit.js'
import { needs } from '../helpers/needs.js'
import { evalNixText } from '../helpers/nix.js'

// The emitter's contract, checked by the real evaluator: any value, emitted as Nix and evaluated
// with `nix-instantiate --eval --strict --json`, comes back deep-equal. 2,000 values a run, with a
// fresh seed each time (printed, and reusable with KEYSTONE_SEED=<n>).
const RUNS = 2000

// Pieces that have broken Nix string escaping somewhere: interpolation, both string syntaxes'
// escapes, control characters, unicode outside the BMP, and indentation-sensitive whitespace.
const HOSTILE = ['${', '$', '$${', '\\', '"', "''", "'''", '\n', '\r', '\t', ' ', '  ', '\x01', '\x1b', '\x7f', 'é', '🔑', '\u2028', '${x}', "''${", '\\${', 'or', 'if']

const text = fc
  .array(fc.oneof(fc.constantFrom(...HOSTILE), fc.string({ unit: 'grapheme', maxLength: 6 })), { maxLength: 8 })
  .map((parts) => parts.join(''))

// Multi-line text ending in a newline, as shell hooks are: exercises the indented-string form.
const script = fc
  .array(fc.oneof(text, fc.constantFrom('mount /dev/x /y', "echo ''", '  indented ${HOME}')), { minLength: 2, maxLength: 5 })
  .map((lines) => lines.join('\n') + '\n')

// `outPath` is excluded as a key: Nix's JSON printer turns any attrset that has one into that
// string (a derivation-like value), so it cannot round-trip by design of the evaluator.
const key = fc.oneof(text, fc.constantFrom('if', 'or', 'a.b', 'crypt/system', 'com.sun:auto-snapshot', "x'", '-x', '1', '')).filter((k) => k !== 'outPath')

const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    text,
    script,
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }),
  ),
}))

t.test('random values survive emit → nix-instantiate → JSON unchanged', { skip: needs('nix-instantiate') }, async (t) => {
  const seed = Number(process.env.KEYSTONE_SEED ?? Math.floor(Math.random() * 2 ** 31))
  t.comment(`seed ${seed} (rerun with KEYSTONE_SEED=${seed})`)
  const values = fc.sample(value, { numRuns: RUNS, seed }) as NixValue[]
  // One evaluation for all values keeps the run fast; a mismatch still names its value.
  const evaluated = (await evalNixText(emitNix(values))) as unknown[]
  t.equal(evaluated.length, RUNS)
  let mismatches = 0
  values.forEach((input, i) => {
    const output = evaluated[i]
    if (JSON.stringify(output) !== JSON.stringify(canonical(input))) {
      mismatches++
      if (mismatches <= 3) {
        t.fail(`value ${i} changed`, { input: JSON.stringify(input), nix: emitNix(input), output: JSON.stringify(output) })
      }
    }
  })
  t.equal(mismatches, 0, `all ${RUNS} values round-trip`)
})

// Nix attrsets are sorted by key; compare against the same order.
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value !== null && typeof value === 'object') {
    const sorted = Object.keys(value).sort(compareNixKeys)
    return Object.fromEntries(sorted.map((k) => [k, canonical((value as Record<string, unknown>)[k])]))
  }
  return value
}

// Nix orders attribute names by their bytes, not by UTF-16 code units.
function compareNixKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
