import t from 'tap'
import { parseYaml } from '../../cli/host/parse-yaml.js'

const errorsOf = (source: string) => parseYaml(source).errors.map((e) => `${e.position.line}:${e.position.col} ${e.message}`)

t.test('values, positions and source text', async (t) => {
  const parsed = parseYaml('# comment\nname: web1\nhostId: 8425e349\ndisks:\n  - /dev/sda\n')
  t.same(parsed.errors, [])
  t.same(parsed.value, { name: 'web1', hostId: Infinity, disks: ['/dev/sda'] })
  t.same(parsed.locate(['disks', 0]), { line: 5, col: 5 })
  t.same(parsed.locateKey(['disks']), { line: 4, col: 1 })
  t.same(parsed.locate(['disks', 7]), { line: 5, col: 3 }, 'a missing item falls back to its list')
  t.equal(parsed.sourceText(['hostId']), '8425e349', 'as written, not as YAML reads it')
})

// Tags such as !!binary would hand the validator a Buffer or a Date.
t.test('tags beyond the JSON types are reported at the tag', async (t) => {
  t.same(errorsOf('a: !!binary aGVsbG8=\nb: !!timestamp 2001-12-14\nc: !local x\nd: !!str 1\n'), [
    '1:4 unknown tag `!!binary`',
    '2:4 unknown tag `!!timestamp`',
    '3:4 unknown tag `!local`',
  ])
})

t.test('keys that are lists or mappings are reported at the key', async (t) => {
  t.same(errorsOf('name: x\n? [a, b]\n: 1\n{c: d}: 2\n'), ['2:3 a key must be text, not a list or a mapping', '4:1 a key must be text, not a list or a mapping'])
})

t.test('aliases: an unknown one is located, too many are refused', async (t) => {
  t.same(errorsOf('a: x\nb: *nope\n'), ['2:4 `*nope` refers to no `&nope` above it'])
  t.same(errorsOf('a: &x 1\nb: *x\n'), [])
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]'].join('\n')
  t.same(errorsOf(bomb), ['1:1 Excessive alias count indicates a resource exhaustion attack'])
})

t.test('two keys on one line, and an over-indented line, are told apart', async (t) => {
  t.same(errorsOf('ssh:\n  address: user: x\n'), ['2:12 a second `key:` on one line'])
  t.same(errorsOf('ssh:\n  address: x\n    port: 22\n'), ['3:5 this line is indented deeper than the key above it, so it is read as part of that value'])
})
