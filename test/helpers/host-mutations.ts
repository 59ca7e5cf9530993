import { readFileSync } from 'node:fs'
import path from 'node:path'
import fc from 'fast-check'

// Mutations of the example host files that a person (or an editor, or a bad merge) could make,
// for the fuzz tests of the loader (test/host/fuzz-loader.test.ts) and of the CLI
// (test/host/fuzz-cli.test.ts).
const root = path.resolve(import.meta.dirname, '../..')
export const examples = ['web1', 'storage1', 'desk1'].map((name) => ({
  file: `hosts/${name}.yaml`,
  text: readFileSync(path.join(root, 'hosts', `${name}.yaml`), 'utf8'),
}))
// By file name, so that a counterexample prints as a few words rather than a whole host file.
export const example = fc.constantFrom(...examples.map((e) => e.file))
export const textOf = (file: string) => examples.find((e) => e.file === file)!.text

// Values that have broken YAML loaders or what comes after them: YAML 1.1 spellings, numbers
// YAML reads differently than they look, anchors, aliases and tags, flow and block syntax where a
// scalar is expected, prototype keys, Nix interpolation, terminal escapes, and deep nesting.
export const HOSTILE = [
  'true',
  'false',
  'yes',
  'no',
  'on',
  'off',
  'null',
  '~',
  '',
  '0',
  '-1',
  '8425e349',
  '0x1F',
  '0o17',
  '1e400',
  '.nan',
  '.inf',
  '-.inf',
  '00000000',
  '12345678',
  '3.14',
  '"quoted \\" text"',
  "'single ''q'''",
  '&a value',
  '*a',
  '*missing',
  '&a [*a, *a]',
  '<<: *a',
  '!!binary aGVsbG8=',
  '!!timestamp 2001-12-14',
  '!!set {a, b}',
  '!!omap [a: 1]',
  '!!str 8425e349',
  '!!int 22',
  '!!float nope',
  '!foo bar',
  '!!map {}',
  '{}',
  '[]',
  '[a, b]',
  '{a: 1}',
  '{',
  '[',
  ']',
  '}',
  '|',
  '>-',
  '|\n  block\n  text',
  '- item',
  '? key',
  ': value',
  '---',
  '...',
  '%YAML 1.1',
  '# comment',
  '@at',
  '`tick`',
  '${}',
  '${pkgs.hello}',
  "''${x}",
  '__proto__',
  'constructor',
  '__proto__: {polluted: true}',
  '"\\u0000"',
  '"\\x1b[31mred"',
  '\u2028',
  '🔑 é ß',
  '/dev/sda',
  '/dev/disk/by-id/x-part1',
  'ssh-ed25519 AAAA',
  '-----BEGIN OPENSSH PRIVATE KEY-----',
  'file:///etc/key',
  'http://x',
  's3://b',
  '100%',
  '1.5G',
  '0G',
  '9999999999999999999T',
  '['.repeat(2000),
  '{a: '.repeat(500),
  '- '.repeat(500),
  '*a '.repeat(200),
]

export const hostile = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...HOSTILE) },
  fc.integer().map(String),
  fc.double().map(String),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  fc.constantFrom(1_000, 100_000).map((n) => 'A'.repeat(n)),
)

// Keys that name Object's own methods, or are not plain text, beside any hostile value.
export const hostileKey = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'toString',
    'hasOwnProperty',
    'valueOf',
    '<<',
    '? [a]',
    '"quoted key"',
    '1',
    'true',
    'null',
    '~',
    '""',
    'com.sun:auto-snapshot',
  ),
  hostile,
)

// Positions are fractions of the text or of its lines, so that a mutation applies to any input
// and fast-check can print and shrink it as data.
export const where = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })
export const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete-line' as const), at: where }),
  fc.record({ kind: fc.constant('duplicate-line' as const), at: where }),
  fc.record({ kind: fc.constant('swap-lines' as const), at: where, with: where }),
  fc.record({
    kind: fc.constant('indent' as const),
    at: where,
    by: fc.oneof(fc.integer({ min: -4, max: 4 }), fc.constant('tab' as const)),
  }),
  fc.record({ kind: fc.constant('replace-value' as const), at: where, value: hostile }),
  fc.record({ kind: fc.constant('replace-key' as const), at: where, value: hostileKey }),
  fc.record({ kind: fc.constant('add-key' as const), at: where, key: hostileKey, value: hostile }),
  fc.record({
    kind: fc.constant('delete-chars' as const),
    at: where,
    length: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({ kind: fc.constant('insert-chars' as const), at: where, value: hostile }),
  fc.record({ kind: fc.constant('truncate' as const), at: where }),
)
export type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never

const SCALAR_LINE = /^(\s*(?:- )?[^\s:#][^:#]*:[ ]+)(\S.*)$|^(\s*- )(\S.*)$/
const KEY_LINE = /^(\s*(?:- )?)([^\s:#][^:#]*)(:.*)$/

export function mutate(text: string, m: Mutation): string {
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
      if (i !== undefined)
        lines[i] = lines[i]!.replace(SCALAR_LINE, (_, a, b, c) => `${a ?? c}${m.value}`)
      break
    }
    case 'replace-key': {
      const i = pick(KEY_LINE, m.at)
      if (i !== undefined)
        lines[i] = lines[i]!.replace(
          KEY_LINE,
          (_, indent, _key, rest) => `${indent}${m.value}${rest}`,
        )
      break
    }
    case 'add-key': {
      // A sibling of an existing key: in a free-form map such as a dataset's options, it is valid.
      const i = pick(KEY_LINE, m.at)
      if (i !== undefined)
        lines.splice(
          i + 1,
          0,
          `${' '.repeat(/^[ -]*/.exec(lines[i]!)![0].length)}${m.key}: ${m.value}`,
        )
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
