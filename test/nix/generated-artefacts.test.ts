import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { execFileSync } from 'node:child_process'
import t from 'tap'
import { loadFleet } from '../../cli/host/load-fleet.js'
import { planGenerate } from '../../cli/nix/plan-generate.js'
import { needs } from '../helpers/needs.js'
import { nixEvalJson, nixParse } from '../helpers/nix.js'

// The committed example fleet is the embedded default: its generated files must be exactly what
// the generator makes today (STYLE.md §13), and every data file must evaluate to its source value.
const root = path.resolve(import.meta.dirname, '../..')
const expected = planGenerate(root, await loadFleet(root))

t.test('committed generated files are byte-identical to a fresh generation', async (t) => {
  t.ok(expected.length >= 10, 'schema and three files for each of at least three hosts')
  for (const file of expected) {
    const committed = await readFile(path.join(root, file.path), 'utf8').catch(() => '<missing>')
    t.equal(committed, file.content, `${file.path} is up to date (run \`keystone generate --all\`)`)
  }
})

t.test('generation is deterministic', async (t) => {
  const again = planGenerate(root, await loadFleet(root))
  t.same(again.map((f) => [f.path, f.content]), expected.map((f) => [f.path, f.content]))
})

t.test('every generated data file evaluates to exactly its source value', { skip: needs('nix-instantiate') }, async (t) => {
  const dataFiles = expected.filter((f) => f.data !== undefined)
  t.ok(dataFiles.length >= 6)
  for (const file of dataFiles) {
    t.same(await nixEvalJson(path.join(root, file.path)), JSON.parse(JSON.stringify(file.data)), file.path)
  }
})

t.test('every .nix file in the repository parses', { skip: needs('nix-instantiate') }, async (t) => {
  const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.nix'], { cwd: root })
    .toString()
    .split('\n')
    .filter((f) => f.endsWith('.nix'))
  t.ok(tracked.length >= 9, `found ${tracked.length} .nix files`)
  for (const file of tracked) {
    await t.resolves(nixParse(path.join(root, file)), file)
  }
})
