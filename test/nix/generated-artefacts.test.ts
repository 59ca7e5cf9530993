import { readFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { loadFleet } from '../../cli/host/load-fleet.js'
import { planGenerate } from '../../cli/nix/plan-generate.js'
import { needs } from '../helpers/needs.js'
import { nixEvalJson } from '../helpers/nix.js'

// The committed example fleet is the embedded default: its generated files must be exactly what
// the generator makes today (STYLE.md §13), and every data file must evaluate to its source value.
const root = path.resolve(import.meta.dirname, '../..')
const expected = planGenerate(root, await loadFleet(root))

// checks/ is a fleet of its own: the hosts the VM checks install (checks/lib/install.nix).
const checksFleet = path.join(root, 'checks')

t.test('committed generated files are byte-identical to a fresh generation', async (t) => {
  t.ok(expected.length >= 10, 'schema and three files for each of at least three hosts')
  const checksExpected = planGenerate(checksFleet, await loadFleet(checksFleet))
  t.ok(checksExpected.length >= 7, 'schema and three files for each of the two check hosts')
  for (const [fleet, files] of [
    [root, expected],
    [checksFleet, checksExpected],
  ] as const) {
    for (const file of files) {
      const committed = await readFile(path.join(fleet, file.path), 'utf8').catch(() => '<missing>')
      const where = path.relative(root, path.join(fleet, file.path))
      t.equal(committed, file.content, `${where} is up to date (run \`keystone generate --all\`)`)
    }
  }
})

t.test('generation is deterministic', async (t) => {
  const again = planGenerate(root, await loadFleet(root))
  t.same(
    again.map((f) => [f.path, f.content]),
    expected.map((f) => [f.path, f.content]),
  )
})

t.test(
  'every generated data file evaluates to exactly its source value',
  { skip: needs('nix-instantiate') },
  async (t) => {
    const dataFiles = expected.filter((f) => f.data !== undefined)
    t.ok(dataFiles.length >= 6)
    for (const file of dataFiles) {
      t.same(
        await nixEvalJson(path.join(root, file.path)),
        JSON.parse(JSON.stringify(file.data)),
        file.path,
      )
    }
  },
)
