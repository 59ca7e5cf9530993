import {
  lstat,
  lutimes,
  mkdir,
  readdir,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { openAgent } from '../../cli/agent/home/agent-home.js'
import { commitSnapshot } from '../../cli/agent/backup/commit-snapshot.js'
import { Packer } from '../../cli/agent/backup/packer.js'
import { Catalog, loadManifest } from '../../cli/agent/repository/catalog.js'
import type { Entry } from '../../cli/agent/repository/format/manifest.js'
import { headName, newestHeads, readHead, sealHead } from '../../cli/agent/sync/heads.js'
import { folderId } from '../../cli/agent/sync/sync-folder.js'
import { runAgent, tempDir } from '../helpers/agent.js'

// A two-way folder never writes through a symlink of its own: a directory that replaced a link
// on the other device replaces it here too, and a manifest that pairs a link with a file beneath
// it (what a device taken over could publish) writes nothing outside the folder. Two agent
// processes through a folder store.
t.test('two-way sync writes nothing through a symlink', async (t) => {
  const work = await tempDir('two-way-links')
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const store = `file://${work}/store`
  const [alpha, beta, A, B, outside] = ['alpha', 'beta', 'A', 'B', 'outside'].map((d) =>
    path.join(work, d),
  ) as [string, string, string, string, string]
  for (const dir of [A, B, outside]) await mkdir(dir)
  const rk = path.join(work, 'rk')
  t.equal(
    (await runAgent(alpha, ['init', store, '--label', 'alpha', '--write-recovery-key', rk])).code,
    0,
  )
  t.equal(
    (await runAgent(beta, ['init', store, '--label', 'beta', '--recovery-key-file', rk])).code,
    0,
  )
  // Made a minute ago: settled, so the round takes them.
  const then = new Date(Date.now() - 60_000)
  const write = async (file: string, text: string) => {
    await mkdir(path.dirname(file), { recursive: true })
    await writeFile(file, text)
    await utimes(file, then, then)
  }
  const link = async (file: string, target: string) => {
    await symlink(target, file)
    await lutimes(file, then, then)
  }
  const sync = async (agentDir: string, dir: string) => {
    const r = await runAgent(agentDir, ['sync', dir, '--folder', 'shared'])
    t.equal(r.code, 0, r.stderr)
  }
  const rounds = async () => {
    await sync(alpha, A)
    await sync(beta, B)
    await sync(alpha, A)
  }

  await write(path.join(A, 'a.txt'), 'alpha\n')
  await link(path.join(A, 'link'), outside)
  await rounds()
  t.equal(await readlink(path.join(B, 'link')), outside, 'the link reaches beta as a link')

  // Alpha turns the link into a directory with a file in it.
  await rm(path.join(A, 'link'))
  await write(path.join(A, 'link/inside.txt'), 'inside\n')
  await rounds()
  t.ok((await lstat(path.join(B, 'link'))).isDirectory(), 'the link is replaced by a directory')
  t.same(await readdir(path.join(B, 'link')), ['inside.txt'])
  t.same(await readdir(outside), [], 'nothing was written where the link pointed')

  // A head whose manifest keeps a link and names a file beneath it, sealed with the key.
  await link(path.join(A, 'link2'), outside)
  await rounds()
  const agent = await openAgent(alpha)
  try {
    const { repo } = agent
    const fid = folderId(agent, 'shared')
    const seq = (await newestHeads(repo, fid)).get(fid)!
    const head = await readHead(repo, fid, seq)
    const listed = { name: head.snapshot, snapshot: await repo.readSnapshot(head.snapshot) }
    const entries = await loadManifest(repo, await Catalog.load(repo), listed.name, listed.snapshot)
    const a = entries.find((e) => e.path === `${head.root}/a.txt`)!
    const hostile: Entry = { ...a, path: `${head.root}/link2/evil.txt` }
    const { name } = await commitSnapshot(
      agent,
      new Packer(agent, 1),
      [...entries, hostile].sort((x, y) => (x.path < y.path ? -1 : 1)),
      { time: new Date(), host: 'alpha', paths: [A] },
    )
    await repo.store.put(
      headName(fid, seq + 1),
      sealHead(repo, fid, seq + 1, { ...head, snapshot: name, time: new Date().toISOString() }),
    )
  } finally {
    agent.state.close()
  }
  await sync(beta, B)
  t.same(await readdir(outside), [], 'the file beneath the link is not written through it')
  t.equal(await readlink(path.join(B, 'link2')), outside, 'the link is left as it is')
})
