import { execFile } from 'node:child_process'
import { createRequire } from 'node:module'
import { appendFile, cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { repoRoot } from '../helpers/temp-fleet.js'

// The floors of cli/ (docs/architecture.md), held by dependency-cruiser with the rules in
// .dependency-cruiser.cjs: the tree as it is passes, and each kind of break — an import from a
// lower floor to a higher one, inside the agent too, and a cycle — fails with the rule's name.
const exec = promisify(execFile)
const depcruise = path.join(repoRoot, 'node_modules/.bin/depcruise')
const config = path.join(repoRoot, '.dependency-cruiser.cjs')
const rules = createRequire(import.meta.url)(config) as {
  forbidden: { name: string; from: { path: string | string[] } }[]
}

async function cruise(cwd: string, output: 'err' | 'json' = 'err') {
  try {
    const { stdout } = await exec(depcruise, ['cli', '--config', config, '--output-type', output], {
      cwd,
      maxBuffer: 64 * 1024 * 1024,
    })
    return { code: 0, stdout }
  } catch (error) {
    const failed = error as { code: number; stdout: string }
    return { code: failed.code, stdout: failed.stdout }
  }
}

// cli/ copied aside, with `line` appended to one file: what the rules say about that change.
async function withImport(t: Test, file: string, line: string) {
  const copy = await mkdtemp(path.join(tmpdir(), 'keystone-arch-'))
  t.teardown(() => rm(copy, { recursive: true, force: true }))
  await cp(path.join(repoRoot, 'cli'), path.join(copy, 'cli'), { recursive: true })
  await appendFile(path.join(copy, file), `\n${line}\n`)
  return cruise(copy)
}

t.test('cli/ as it is: no import runs upward, no cycle', async (t) => {
  const result = await cruise(repoRoot)
  t.equal(result.code, 0, result.stdout)
  t.match(result.stdout, /no dependency violations found/)
})

t.test('every source file stands on exactly one floor, and every floor has files', async (t) => {
  const { modules } = JSON.parse((await cruise(repoRoot, 'json')).stdout) as {
    modules: { source: string }[]
  }
  const sources = modules.map((m) => m.source).filter((s) => s.startsWith('cli/'))
  t.ok(sources.length > 150, `${sources.length} files under cli/`)
  // `<floor>-imports-only-below` for the floors of cli/, `agent-<part>-…` for the agent's parts.
  const floorRules = rules.forbidden.filter((rule) => /^[a-z]+-imports-only-below$/.test(rule.name))
  const agentRules = rules.forbidden.filter((rule) =>
    /^agent-[a-z]+-imports-only-below$/.test(rule.name),
  )
  const patterns = (rule: (typeof floorRules)[number]) =>
    [rule.from.path].flat().map((p) => new RegExp(p))
  for (const source of sources) {
    const on = floorRules.filter((rule) => patterns(rule).some((p) => p.test(source)))
    t.equal(on.length, 1, `${source}: ${on.map((rule) => rule.name).join(', ') || 'no floor'}`)
    // A file in a folder of the agent belongs to one of its parts; only the verbs sit on top.
    if (/^cli\/agent\/[^/]+\//.test(source))
      t.equal(
        agentRules.filter((rule) => patterns(rule).some((p) => p.test(source))).length,
        1,
        `${source} is in one part of the agent`,
      )
  }
  for (const rule of rules.forbidden.filter((r) => r.name !== 'no-cycle'))
    t.ok(
      sources.some((s) => [rule.from.path].flat().some((p) => new RegExp(p).test(s))),
      `${rule.name} applies to some file`,
    )
})

t.test('an import from a lower floor to a higher one fails, naming the rule', async (t) => {
  const store = await withImport(t, 'cli/store/store.ts', "import '../agent/home/state.js'")
  t.not(store.code, 0)
  t.match(store.stdout, 'store-imports-only-below: cli/store/store.ts → cli/agent/home/state.ts')

  const base = await withImport(t, 'cli/ui/table.ts', "import '../commands/check.js'")
  t.not(base.code, 0)
  t.match(base.stdout, 'base-imports-only-below: cli/ui/table.ts → cli/commands/check.ts')

  const fleet = await withImport(t, 'cli/fleet/fleet-status.ts', "import '../agent/home/state.js'")
  t.not(fleet.code, 0, 'fleet reads heartbeats without the agent')
  t.match(fleet.stdout, 'fleet-imports-only-below')
})

t.test('inside the agent, too: the repository format does not know the daemon', async (t) => {
  const result = await withImport(
    t,
    'cli/agent/repository/lease.ts',
    "import '../daemon/daemon.js'",
  )
  t.not(result.code, 0)
  t.match(
    result.stdout,
    'agent-repository-imports-only-below: cli/agent/repository/lease.ts → cli/agent/daemon/daemon.ts',
  )
})

t.test('a cycle inside one folder fails', async (t) => {
  const result = await withImport(t, 'cli/deploy/plan-deploy.ts', "import './render-plan.js'")
  t.not(result.code, 0)
  t.match(result.stdout, /no-cycle: cli\/deploy\/plan-deploy\.ts →\s+cli\/deploy\/render-plan\.ts/)
})
