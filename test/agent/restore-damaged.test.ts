import { cp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import {
  describeTree,
  initAgent,
  pseudoRandom,
  runAgent,
  tempDir,
  writeTree,
} from '../helpers/agent.js'

// Restore from a store with a damaged or a deleted pack, through the built CLI with a folder
// store: no file appears under its real name unless every chunk of it was read and verified, a
// file already at that path stays exactly as it was, nothing temporary is left, and the run ends
// with the files not restored and exit 3 — with the object named.
const MiB = 1024 * 1024

async function files(root: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(path.join(root, rel), { withFileTypes: true }).catch(
    () => [],
  )) {
    const name = rel === '' ? entry.name : `${rel}/${entry.name}`
    if (entry.isDirectory()) out.push(...(await files(root, name)))
    else out.push(name)
  }
  return out.sort()
}

async function setup() {
  const work = await tempDir('restore-damaged')
  const src = path.join(work, 'src')
  const pristine = path.join(work, 'pristine')
  const { agentDir } = await initAgent(`file://${pristine}`)
  await writeTree(src, { 'a.txt': 'alpha\n', 'old.bin': pseudoRandom(1, 2 * MiB) })
  if ((await runAgent(agentDir, ['backup', src])).code !== 0) throw new Error('first backup')
  const before = new Set(await files(pristine))
  await writeTree(src, { 'new.bin': pseudoRandom(2, 2 * MiB), 'sub/b.txt': 'beta\n' })
  if ((await runAgent(agentDir, ['backup', src])).code !== 0) throw new Error('second backup')
  // The second backup's data pack, which holds new.bin and sub/b.txt: the largest object it
  // added (new.bin is 2 MiB of noise).
  const added = (await files(pristine)).filter((n) => n.startsWith('data/') && !before.has(n))
  const sizes = await Promise.all(added.map(async (n) => (await stat(path.join(pristine, n))).size))
  const pack = added[sizes.indexOf(Math.max(...sizes))]!

  // The agent's settings point at a copy of the store, damaged for each case.
  const store = path.join(work, 'store')
  const settingsFile = path.join(agentDir, 'agent.json')
  const settings = JSON.parse(await readFile(settingsFile, 'utf8'))
  settings.store = `file://${store}`
  await writeFile(settingsFile, JSON.stringify(settings))
  const fresh = async (damage: (file: string) => Promise<void>) => {
    await rm(store, { recursive: true, force: true })
    await cp(pristine, store, { recursive: true })
    await damage(path.join(store, pack))
  }
  const restore = (target: string, ...extra: string[]) =>
    runAgent(agentDir, ['restore', 'latest', '--target', target, ...extra])
  return { work, src, pack, fresh, restore }
}

const flipByte = async (file: string) => {
  const bytes = await readFile(file)
  bytes[Math.floor(bytes.length / 2)]! ^= 0x40
  await writeFile(file, bytes)
}

t.test(
  'a damaged pack: its file is not restored, the file already there is kept, the rest is restored, exit 3',
  async (t) => {
    const s = await setup()
    t.teardown(() => rm(s.work, { recursive: true, force: true }))
    await s.fresh(flipByte)
    // A target holding an older new.bin, restored over with --overwrite.
    const target = path.join(s.work, 'target')
    const at = path.join(target, s.src)
    const existing = Buffer.from('what was here before the restore\n')
    await writeTree(at, { 'new.bin': existing })
    const restored = await s.restore(target, '--overwrite')
    t.equal(restored.code, 3, restored.stderr)
    t.match(
      restored.stderr,
      new RegExp(`^keystone: 2 files not restored: [^\\n]*new\\.bin, [^\\n]*sub/b\\.txt — ${s.pack}: `, 'm'),
      'the file and the damaged object, named',
    )
    t.notMatch(restored.stderr, /internal error|\n\s+at /)
    t.same(
      await readFile(path.join(at, 'new.bin')),
      existing,
      'the file that was there is untouched',
    )
    const tree = describeTree(at) as Record<string, unknown>
    const source = describeTree(s.src) as Record<string, unknown>
    for (const name of ['a.txt', 'old.bin'])
      t.same(tree[name], source[name], `${name} restored exactly`)
    t.same(
      (await files(target)).filter((n) => /\.restoring$|\.partial$/.test(n)),
      [],
      'nothing temporary left',
    )

    const partial = path.join(s.work, 'partial')
    const kept = await s.restore(partial, '--keep-partial')
    t.equal(kept.code, 3, kept.stderr)
    const names = await files(path.join(partial, s.src))
    t.ok(names.includes('new.bin.partial'), 'with --keep-partial, what was read is new.bin.partial')
    t.notOk(names.includes('new.bin'), 'and nothing under the real name')
  },
)

t.test('a pack deleted from the store: exit 3 naming it, not an internal error', async (t) => {
  const s = await setup()
  t.teardown(() => rm(s.work, { recursive: true, force: true }))
  await s.fresh((file) => rm(file))
  const target = path.join(s.work, 'target')
  const restored = await s.restore(target)
  t.equal(restored.code, 3, restored.stderr)
  t.match(restored.stderr, `${s.pack}: no such object in the store`)
  t.match(restored.stderr, /2 files not restored: [^\n]*new\.bin, [^\n]*sub\/b\.txt/)
  t.notMatch(restored.stderr, /internal error/)
  const names = await files(path.join(target, s.src))
  t.same(names, ['a.txt', 'old.bin'], 'everything else is restored')
})
