import { rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { openAgent } from '../../cli/agent/home/agent-home.js'
import { Catalog } from '../../cli/agent/repository/catalog.js'
import { blobFromPack } from '../../cli/agent/repository/format/blob.js'
import { decodeTreeList } from '../../cli/agent/repository/format/snapshot-object.js'
import { listSnapshots } from '../../cli/agent/repository/snapshots.js'
import { packName } from '../../cli/agent/repository/repository.js'
import {
  describeTree,
  initAgent,
  pseudoRandom,
  runAgent,
  tempDir,
  writeTree,
} from '../helpers/agent.js'

// A repository written before the tree list (version 1 snapshots, with the tree blob ids in the
// snapshot object) still lists, verifies, restores and prunes, next to version 2 snapshots.
const json = (stdout: string) => JSON.parse(stdout) as Record<string, any>

// Rewrites the repository's only snapshot as version 1 would have stored it.
async function downgradeSnapshot(agentDir: string): Promise<string> {
  const agent = await openAgent(agentDir)
  try {
    const { repo } = agent
    const [listed] = await listSnapshots(repo)
    if (listed === undefined || listed.snapshot.version !== 2) throw new Error('no v2 snapshot')
    const { root, version: _, ...rest } = listed.snapshot
    const { pack, entry } = (await Catalog.load(repo)).locate(root, listed.name)
    const list = blobFromPack(
      repo.keys,
      packName(pack),
      await repo.readAddressed(packName(pack)),
      entry,
    )
    const name = await repo.writeSnapshot({ ...rest, version: 1, tree: decodeTreeList(list) })
    await repo.store.delete(listed.name)
    return name.slice('snapshots/'.length)
  } finally {
    agent.state.close()
  }
}

t.test('a version 1 snapshot lists, verifies, restores and prunes', async (t) => {
  const work = await tempDir('snapshot-v1')
  const src = path.join(work, 'src')
  const files: Record<string, Buffer> = {}
  for (let i = 0; i < 300; i++) files[`d${i % 7}/f${i}.bin`] = pseudoRandom(i + 1, 3000 + i)
  await writeTree(src, files)
  const before = describeTree(src)
  const { agentDir } = await initAgent(`file://${work}/store`)
  t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
  const old = await downgradeSnapshot(agentDir)

  // A newer version 2 snapshot next to it, of a changed tree.
  await rm(path.join(src, 'd0'), { recursive: true })
  await writeFile(path.join(src, 'new.bin'), pseudoRandom(9, 50_000))
  t.equal((await runAgent(agentDir, ['backup', src])).code, 0)

  const listed = json((await runAgent(agentDir, ['snapshots', '--json'])).stdout) as any[]
  t.equal(listed.length, 2)
  t.ok(listed.some((s) => s.id === old))
  const verified = await runAgent(agentDir, ['verify', '--read-data'])
  t.equal(verified.code, 0, verified.stderr)

  // Prune keeps both: the old snapshot's tree blobs and data are needed, and nothing goes.
  const kept = await runAgent(agentDir, ['prune', '--keep-last', '2'])
  t.equal(kept.code, 0, kept.stderr)
  t.match(kept.stdout, /deleted 0 packs/)
  const target = path.join(work, 'restored-old')
  const r = await runAgent(agentDir, ['restore', old.slice(0, 8), '--target', target])
  t.equal(r.code, 0, r.stderr)
  t.same(describeTree(path.join(target, src)), before)

  // Forgetting it frees its packs, and the version 2 snapshot still restores.
  const pruned = await runAgent(agentDir, ['prune', '--keep-last', '1'])
  t.equal(pruned.code, 0, pruned.stderr)
  t.match(pruned.stdout, /forgot 1 snapshots \(kept 1\) and deleted [1-9]\d* packs/)
  t.equal((await runAgent(agentDir, ['verify', '--read-data'])).code, 0)
  const latest = path.join(work, 'restored-latest')
  t.equal((await runAgent(agentDir, ['restore', 'latest', '--target', latest])).code, 0)
  t.same(describeTree(path.join(latest, src)), describeTree(src))
  await rm(work, { recursive: true, force: true })
})
