import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { formatProblem } from '../../cli/errors.js'
import { loadHostSource } from '../../cli/host/load-host.js'

// Each fixture is one realistic mistake; its `.expected` sidecar holds the exact lines a person
// sees, so that a change to a message, a hint or a position shows up here as a diff to review.
const dir = path.resolve(import.meta.dirname, '../fixtures/invalid-hosts')
const shown = 'test/fixtures/invalid-hosts'
const names = readdirSync(dir)
const cases = names.filter((n) => n.endsWith('.yaml')).map((n) => n.slice(0, -'.yaml'.length)).sort()

t.test('there are enough fixtures, each with its expected output', async (t) => {
  t.ok(cases.length >= 30, `${cases.length} invalid host files`)
  for (const name of cases) t.ok(names.includes(`${name}.expected`), `${name}.expected exists`)
  const orphans = names.filter((n) => n.endsWith('.expected') && !cases.includes(n.slice(0, -'.expected'.length)))
  t.same(orphans, [], 'every .expected has its fixture')
})

for (const name of cases) {
  t.test(name, async (t) => {
    const source = readFileSync(path.join(dir, `${name}.yaml`), 'utf8')
    const result = loadHostSource(source, `${shown}/${name}.yaml`)
    t.equal(result.ok, false, 'the host file is rejected')
    const actual = result.ok ? '' : result.problems.map(formatProblem).join('\n') + '\n'
    const expected = readFileSync(path.join(dir, `${name}.expected`), 'utf8')
    t.ok(expected.trim() !== '', 'the expectation is not empty')
    t.equal(actual, expected)
  })
}
