// Fault injection for the sync agent: kills `keystone agent backup` with SIGKILL at random
// points of its pass, again and again, on a tree that changes between runs. After every kill:
// `verify` must accept the repository, and (every few runs, and at the end) a restore of the
// latest snapshot must equal the tree as it was when that snapshot was taken, byte for byte.
// At the end one uninterrupted pass must converge: the next one reads nothing and uploads only
// its snapshot. Used by test/agent/crash.test.ts (50 kills) and bench/fault-injection.mjs (500).
import { spawn } from 'node:child_process'
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describeTree, pseudoRandom, writeTree } from './tree.mjs'

const root = path.dirname(path.dirname(import.meta.dirname))
const mainJs = path.join(root, 'dist/cli/main.js')
const MiB = 1024 * 1024

function agent(agentDir, args, { killAfterMs } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mainJs, 'agent', ...args, '--agent-dir', agentDir], {
      env: { ...process.env, KEYSTONE_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer =
      killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.once('error', reject)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

// A small deterministic generator, so a failing run can be replayed with the same seed.
function generator(seed) {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

export async function runFaultInjection({
  kills = 50,
  seed = 1,
  store,
  storeArgs = [],
  log = () => {},
}) {
  const random = generator(seed)
  const work = await mkdtemp(path.join(tmpdir(), 'keystone-faults-'))
  const src = path.join(work, 'src')
  const agentDir = path.join(work, 'agent')
  const fail = (message) => {
    throw new Error(`fault injection (seed ${seed}): ${message}`)
  }
  try {
    const files = {}
    for (let i = 0; i < 150; i++)
      files[`small/${i % 10}/f${i}.txt`] = pseudoRandom(
        seed * 1000 + i,
        512 + Math.floor(random() * 16384),
      )
    for (let i = 0; i < 4; i++)
      files[`big/b${i}.bin`] = pseudoRandom(seed * 7 + i, 1 * MiB + Math.floor(random() * 3 * MiB))
    await writeTree(src, files)
    const init = await agent(agentDir, [
      'init',
      store,
      '--write-recovery-key',
      path.join(work, 'recovery.key'),
      '--label',
      'faults',
      ...storeArgs,
    ])
    if (init.code !== 0) fail(`init: ${init.stderr}`)

    const expected = new Map() // snapshot id → describeTree at the time it was taken
    const snapshotsNow = async () => {
      const r = await agent(agentDir, ['snapshots', '--json'])
      if (r.code !== 0) fail(`snapshots after a kill: ${r.stderr}`)
      return JSON.parse(r.stdout).map((s) => s.id)
    }
    const restoreMatches = async (label) => {
      const ids = await snapshotsNow()
      const latest = ids.at(-1)
      const target = path.join(work, 'restore')
      await rm(target, { recursive: true, force: true })
      const r = await agent(agentDir, ['restore', latest, '--target', target])
      if (r.code !== 0) fail(`${label}: restore exited ${r.code}: ${r.stderr}`)
      const got = JSON.stringify(describeTree(path.join(target, src)))
      if (got !== JSON.stringify(expected.get(latest)))
        fail(`${label}: the restore of ${latest.slice(0, 8)} differs from the tree it was taken of`)
      await rm(target, { recursive: true, force: true })
    }

    // An uninterrupted pass first: the kill points are spread over one pass's duration.
    let tree = describeTree(src)
    let started = Date.now()
    const first = await agent(agentDir, ['backup', src])
    if (first.code !== 0) fail(`first backup: ${first.stderr}`)
    let passMs = Date.now() - started
    let known = await snapshotsNow()
    expected.set(known.at(-1), tree)

    let killed = 0
    let committedByKilled = 0 // killed after writing the snapshot, before exiting
    let runs = 0
    let restores = 0
    while (killed < kills) {
      runs++
      // Change the tree between runs: edits, a new file, a deletion, now and then a big file.
      for (let k = 0; k < 3; k++) {
        const i = Math.floor(random() * 150)
        await writeTree(src, {
          [`small/${i % 10}/f${i}.txt`]: pseudoRandom(
            runs * 31 + k,
            512 + Math.floor(random() * 16384),
          ),
        })
      }
      await writeTree(src, {
        [`new/run-${runs}.bin`]: pseudoRandom(runs, Math.floor(random() * 2 * MiB)),
      })
      if (runs % 3 === 0) await unlink(path.join(src, `new/run-${runs - 2}.bin`)).catch(() => {})
      if (runs % 7 === 0)
        await writeFile(
          path.join(src, `big/b${runs % 4}.bin`),
          pseudoRandom(runs * 13, 1 * MiB + Math.floor(random() * 3 * MiB)),
        )
      tree = describeTree(src)

      // Every 8th run goes uninterrupted: it commits a snapshot and measures how long a pass
      // takes now, so the kill points keep covering a whole pass (scan, packs, index,
      // snapshot, state) even as killed passes leave more work for the next.
      const before = new Set(known)
      const spared = runs % 8 === 0
      const delay = Math.floor(random() * passMs * 1.1)
      started = Date.now()
      const run = await agent(agentDir, ['backup', src], spared ? {} : { killAfterMs: delay })
      const runMs = Date.now() - started
      if (run.signal === 'SIGKILL') killed++
      else if (run.code !== 0) fail(`run ${runs}: backup exited ${run.code}: ${run.stderr}`)
      else if (spared) passMs = runMs
      known = await snapshotsNow()
      for (const id of known) {
        if (before.has(id)) continue
        expected.set(id, tree)
        if (run.signal === 'SIGKILL') committedByKilled++
      }

      const verified = await agent(agentDir, [
        'verify',
        ...(runs % 10 === 0 ? ['--read-data'] : []),
      ])
      if (verified.code !== 0)
        fail(
          `run ${runs} (killed after ${delay} ms): verify exited ${verified.code}: ${verified.stderr}`,
        )
      if (runs % 5 === 0) {
        await restoreMatches(`run ${runs}`)
        restores++
      }
      log(
        `run ${runs}: ${run.signal === 'SIGKILL' ? `killed after ${delay} ms` : `finished in ${runMs} ms`}; ${killed}/${kills} kills`,
      )
    }

    // Converge: one whole pass, then a pass with nothing to do.
    const last = await agent(agentDir, ['backup', src])
    if (last.code !== 0) fail(`final backup: ${last.stderr}`)
    expected.set((await snapshotsNow()).at(-1), describeTree(src))
    await restoreMatches('final')
    restores++
    const idle = await agent(agentDir, ['backup', src, '--json'])
    const stats = JSON.parse(idle.stdout).stats
    if (stats.readFiles !== 0 || stats.uploads !== 1)
      fail(
        `no convergence: the pass after the final one read ${stats.readFiles} files and made ${stats.uploads} uploads`,
      )
    const full = await agent(agentDir, ['verify', '--read-data'])
    if (full.code !== 0) fail(`final verify --read-data: ${full.stderr}`)
    return { runs, killed, restores, snapshots: expected.size, committedByKilled }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}
