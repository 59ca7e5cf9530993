import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { openAgent } from '../../cli/agent/home/agent-home.js'
import { commitSnapshot } from '../../cli/agent/backup/commit-snapshot.js'
import { Packer } from '../../cli/agent/backup/packer.js'
import {
  describeTree,
  initAgent,
  pseudoRandom,
  runAgent,
  tempDir,
  writeTree,
} from '../helpers/agent.js'
import { emptyFile } from '../helpers/entries.js'

// Flipping any byte of any object in the store is detected: `verify --read-data` and `restore`
// exit 3 naming the object, and nothing damaged is restored silently. Each object of a small
// repository (config, key objects, packs, indexes, snapshots) is damaged in turn, at a
// reproducible pseudo-random byte, in a fresh copy of the store.
const MiB = 1024 * 1024

async function objects(root: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const name = rel === '' ? entry.name : `${rel}/${entry.name}`
    if (entry.isDirectory()) out.push(...(await objects(root, name)))
    else out.push(name)
  }
  return out.sort()
}

t.test('every flipped byte in every object: verify and restore exit 3 naming it', async (t) => {
  const work = await tempDir('tamper')
  const src = path.join(work, 'src')
  await writeTree(src, {
    'a.txt': 'alpha\n',
    'big.bin': pseudoRandom(5, 3 * MiB),
    'sub/b.txt': 'beta\n',
  })
  const pristine = path.join(work, 'pristine')
  const { agentDir } = await initAgent(`file://${pristine}`)
  t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
  await writeTree(src, { 'c.txt': 'gamma\n' })
  t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
  const names = await objects(pristine)
  t.ok(names.filter((n) => n.startsWith('data/')).length >= 3, 'data and tree packs')
  const own = JSON.parse((await runAgent(agentDir, ['keys', '--json'])).stdout).find(
    (k: { thisDevice: boolean }) => k.thisDevice,
  ).id

  // The agent directory's cache holds the config and key: point it at a copy of the store.
  const settingsFile = path.join(agentDir, 'agent.json')
  const settings = JSON.parse(await readFile(settingsFile, 'utf8'))
  const store = path.join(work, 'store')
  settings.store = `file://${store}`
  await writeFile(settingsFile, JSON.stringify(settings))

  let seed = 1
  const notNeeded: string[] = []
  for (const name of names) {
    await rm(store, { recursive: true, force: true })
    await cp(pristine, store, { recursive: true })
    const file = path.join(store, name)
    const bytes = await readFile(file)
    const at = pseudoRandom(seed++, 4).readUInt32LE(0) % bytes.length
    bytes[at]! ^= 1 + (seed % 255)
    await writeFile(file, bytes)

    const verified = await runAgent(agentDir, ['verify', '--read-data'])
    t.equal(verified.code, 3, `verify: ${name} byte ${at}`)
    t.ok(verified.stderr.includes(name), `verify names ${name}: ${verified.stderr.split('\n')[0]}`)
    t.notMatch(verified.stderr, /internal error|    at /, 'one-line reasons, no stack trace')

    // restore reads the config, this device's key, every snapshot and index, and the blobs
    // the latest snapshot needs. What it does not read (another device's key object, the
    // first snapshot's tree pack, a pack header) cannot harm it: it then restores exactly.
    const target = path.join(work, `restore-${seed}`)
    const restored = await runAgent(agentDir, ['restore', 'latest', '--target', target])
    if (restored.code === 0) {
      t.ok(
        (name.startsWith('keys/') && !name.endsWith(own)) || name.startsWith('data/'),
        `restore does not need ${name}`,
      )
      notNeeded.push(name)
      t.same(describeTree(path.join(target, src)), describeTree(src))
    } else {
      t.equal(restored.code, 3, `restore: ${name} byte ${at}: ${restored.stderr}`)
      t.ok(restored.stderr.includes(name), `restore names ${name}`)
    }
    await rm(target, { recursive: true, force: true })
  }
  t.ok(
    notNeeded.length < names.length / 2,
    `restore refused most damaged objects; it restored exactly despite ${notNeeded.join(', ')}`,
  )
  await rm(work, { recursive: true, force: true })
})

t.test(
  'a manifest sealed with the key but climbing out of the target: exit 3, nothing written',
  async (t) => {
    // What a device taken over could store: a snapshot whose manifest names "../…" paths.
    const work = await tempDir('tamper')
    const { agentDir } = await initAgent(`file://${work}/store`)
    const agent = await openAgent(agentDir)
    try {
      await commitSnapshot(
        agent,
        new Packer(agent, 1),
        [emptyFile('ok'), emptyFile('../escaped')],
        {
          time: new Date(),
          host: 'test-host',
          paths: ['/ok'],
        },
      )
    } finally {
      agent.state.close()
    }
    const target = path.join(work, 'target', 'inner')
    const restored = await runAgent(agentDir, ['restore', 'latest', '--target', target])
    t.equal(restored.code, 3, restored.stderr)
    t.match(
      restored.stderr,
      /snapshots\/[0-9a-f]{64}: its manifest is damaged: unsafe path "\.\.\/escaped"/,
    )
    t.equal(restored.stderr.trim().split('\n')[0]!.includes('at '), false, 'one line, no stack')
    t.same(await readdir(path.join(work, 'target')).catch(() => []), [], 'nothing written')
    const verified = await runAgent(agentDir, ['verify'])
    t.equal(verified.code, 3)
    t.match(verified.stdout + verified.stderr, /unsafe path/)
    await rm(work, { recursive: true, force: true })
  },
)
