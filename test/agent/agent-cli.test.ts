import { execFileSync } from 'node:child_process'
import { lstatSync } from 'node:fs'
import { chmod, mkdir, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import {
  agentArgs,
  describeTree,
  initAgent,
  pseudoRandom,
  runAgent,
  tempDir,
  writeTree,
} from '../helpers/agent.js'
import { needs } from '../helpers/needs.js'
import { onTerminal } from '../helpers/terminal.js'

// `keystone agent` end to end on a folder store, through the built CLI: what a new user does.
const MiB = 1024 * 1024

async function sampleTree(root: string): Promise<void> {
  await writeTree(root, {
    'docs/notes.txt': 'keystone-marker-content: the quick brown fox\n',
    'docs/Überblick – naïve.md': 'unicode names survive\n',
    'docs/empty.txt': '',
    'bin/tool.sh': '#!/bin/sh\necho hi\n',
    'data/big.bin': pseudoRandom(1, 20 * MiB),
    'data/secret-name-keystone-marker.txt': 'private\n',
  })
  for (let i = 0; i < 50; i++)
    await writeFile(path.join(root, 'docs', `small-${i}.txt`), pseudoRandom(100 + i, 1000 + i * 37))
  await chmod(path.join(root, 'bin/tool.sh'), 0o755)
  await chmod(path.join(root, 'data/secret-name-keystone-marker.txt'), 0o600)
  await mkdir(path.join(root, 'empty-dir'))
  await symlink('../docs/notes.txt', path.join(root, 'bin/notes-link'))
  await symlink('/nonexistent/target', path.join(root, 'dangling'))
  await utimes(path.join(root, 'docs/notes.txt'), 1_600_000_000, 1_600_000_000.123)
}

const json = (stdout: string) => JSON.parse(stdout) as Record<string, any>

t.test(
  'backup then restore reproduces the tree: contents, modes, times, symlinks, empty dirs',
  async (t) => {
    const work = await tempDir('agent-cli')
    const src = path.join(work, 'src')
    await sampleTree(src)
    const { agentDir } = await initAgent(`file://${work}/store`)
    const first = await runAgent(agentDir, ['backup', src, '--json'])
    t.equal(first.code, 0, first.stderr)
    t.equal(json(first.stdout).stats.readFiles, 56)

    const target = path.join(work, 'restored')
    const r = await runAgent(agentDir, ['restore', 'latest', '--target', target])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /restored 56 files/)
    t.same(describeTree(path.join(target, src)), describeTree(src))
    await rm(work, { recursive: true, force: true })
  },
)

t.test(
  'without `sync -f` on the PATH, restore flushes file by file and reproduces the tree all the same',
  async (t) => {
    const work = await tempDir('agent-cli')
    const src = path.join(work, 'src')
    await sampleTree(src)
    // Finished by the worker that writes it (one chunk) and by the main thread (many chunks):
    // neither may lose its mode because it was made read-only before or after the flush.
    await chmod(path.join(src, 'docs/notes.txt'), 0o400)
    await chmod(path.join(src, 'data/big.bin'), 0o444)
    const { agentDir } = await initAgent(`file://${work}/store`)
    t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
    const noSync = path.join(work, 'empty-path')
    await mkdir(noSync)
    const target = path.join(work, 'restored')
    const r = await runAgent(agentDir, ['restore', 'latest', '--target', target], {
      PATH: noSync,
    })
    t.equal(r.code, 0, r.stderr)
    t.same(describeTree(path.join(target, src)), describeTree(src))
    t.same(
      execFileSync('find', [target, '-name', '*.restoring']).toString(),
      '',
      'no temporary file left',
    )
    await rm(work, { recursive: true, force: true })
  },
)

t.test(
  'an unchanged tree is not read again and uploads only the snapshot; a 4 KiB edit uploads little',
  async (t) => {
    const work = await tempDir('agent-cli')
    const src = path.join(work, 'src')
    await sampleTree(src)
    const { agentDir } = await initAgent(`file://${work}/store`)
    t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
    const again = await runAgent(agentDir, ['backup', src, '--json'])
    t.equal(again.code, 0, again.stderr)
    const s = json(again.stdout).stats
    t.equal(s.readFiles, 0, 'no file read')
    t.equal(s.uploads, 1, 'one object: the snapshot (the manifest deduplicates)')
    t.ok(s.uploadedBytes < 2048, `uploaded ${s.uploadedBytes} bytes`)

    const big = path.join(src, 'data/big.bin')
    const bytes = await readFile(big)
    pseudoRandom(99, 4096).copy(bytes, 10 * MiB)
    await writeFile(big, bytes)
    const edited = await runAgent(agentDir, ['backup', src, '--json'])
    const e = json(edited.stdout).stats
    t.equal(e.readFiles, 1)
    t.ok(
      e.uploadedBytes < 9 * MiB,
      `a 4 KiB edit of a 20 MiB file uploads ${e.uploadedBytes} bytes (at most two chunks and the manifest)`,
    )
    await rm(work, { recursive: true, force: true })
  },
)

t.test('restore of one path, and a non-empty target is refused untouched', async (t) => {
  const work = await tempDir('agent-cli')
  const src = path.join(work, 'src')
  await sampleTree(src)
  const { agentDir } = await initAgent(`file://${work}/store`)
  await runAgent(agentDir, ['backup', src])
  const target = path.join(work, 'one')
  const r = await runAgent(agentDir, [
    'restore',
    'latest',
    path.join(src, 'docs'),
    '--target',
    target,
  ])
  t.equal(r.code, 0, r.stderr)
  t.same(describeTree(path.join(target, src, 'docs')), describeTree(path.join(src, 'docs')))
  t.same(await readdir(path.join(target, src)), ['docs'])

  const busy = path.join(work, 'busy')
  await writeTree(busy, { 'keep.txt': 'mine' })
  const refused = await runAgent(agentDir, ['restore', 'latest', '--target', busy])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /busy is not empty/)
  t.same(await readdir(busy), ['keep.txt'])
  const missing = await runAgent(agentDir, [
    'restore',
    'latest',
    '/no/such/path',
    '--target',
    path.join(work, 'x'),
  ])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /is not in snapshot/)
  await rm(work, { recursive: true, force: true })
})

t.test('restore gives every file its modification time back to the microsecond', async (t) => {
  const work = await tempDir('agent-cli')
  const src = path.join(work, 'src')
  const times = new Map<string, bigint>()
  for (let i = 0; i < 200; i++) {
    const file = path.join(src, `f${i}`)
    await writeTree(src, { [`f${i}`]: `${i}` })
    // touch takes nanoseconds; Node's utimes could not set these exactly.
    const ns = 1_795_431_516_000_000_000n + BigInt(i) * 7_919_123_457n
    execFileSync('touch', [
      '-m',
      '-d',
      `@${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`,
      file,
    ])
    times.set(`f${i}`, ns)
  }
  const { agentDir } = await initAgent(`file://${work}/store`)
  t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
  const target = path.join(work, 'r')
  t.equal((await runAgent(agentDir, ['restore', 'latest', '--target', target])).code, 0)
  const wrong = [...times].filter(
    ([name, ns]) =>
      lstatSync(path.join(target, src, name), { bigint: true }).mtimeNs / 1000n !== ns / 1000n,
  )
  t.same(
    wrong.map(([name]) => name),
    [],
  )
  await rm(work, { recursive: true, force: true })
})

t.test('object names and bytes in the store reveal no path, name or content', async (t) => {
  const work = await tempDir('agent-cli')
  const src = path.join(work, 'src')
  await sampleTree(src)
  const { agentDir } = await initAgent(`file://${work}/store`)
  await runAgent(agentDir, ['backup', src])
  const names: string[] = []
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const name = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) await walk(path.join(dir, entry.name), name)
      else names.push(name)
    }
  }
  await walk(path.join(work, 'store'), '')
  t.ok(names.length > 5)
  for (const name of names)
    t.match(
      name,
      /^(config|keys\/[0-9a-f]{64}|data\/[0-9a-f]{2}\/[0-9a-f]{64}|index\/[0-9a-f]{64}|snapshots\/[0-9a-f]{64})$/,
      name,
    )
  for (const name of names) {
    const bytes = await readFile(path.join(work, 'store', name))
    t.notOk(bytes.includes('keystone-marker'), `${name} holds no plaintext name or content`)
    t.notOk(bytes.includes('docs'), `${name} holds no path`)
  }
  await rm(work, { recursive: true, force: true })
})

t.test('init refuses without a terminal unless told where to save the recovery key', async (t) => {
  const work = await tempDir('agent-cli')
  const r = await runAgent(path.join(work, 'agent'), ['init', `file://${work}/store`])
  t.equal(r.code, 2)
  t.match(r.stderr, /no terminal to show the recovery key on/)
  t.match(r.stderr, /--write-recovery-key/)
  t.same(await readdir(path.join(work, 'store')).catch(() => []), [], 'no repository was created')
  const bad = await runAgent(path.join(work, 'agent'), ['init', 'relative/path'])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /not a store/)
  await rm(work, { recursive: true, force: true })
})

t.test('losing a device loses nothing: a new device joins with the recovery key', async (t) => {
  const work = await tempDir('agent-cli')
  const src = path.join(work, 'src')
  await sampleTree(src)
  const store = `file://${work}/store`
  const first = await initAgent(store)
  await runAgent(first.agentDir, ['backup', src])
  const keysBefore = json(
    (await runAgent(first.agentDir, ['keys', '--json'])).stdout,
  ) as unknown as { fingerprint: string; kind: string; thisDevice: boolean }[]
  const lost = keysBefore.find((k) => k.kind === 'device')!
  await rm(first.agentDir, { recursive: true, force: true }) // the device is gone

  const second = path.join(work, 'agent2')
  const refused = await runAgent(second, [
    'init',
    store,
    '--write-recovery-key',
    path.join(work, 'other.key'),
  ])
  t.equal(refused.code, 1)
  t.match(refused.stderr, /already holds a repository/)
  const joined = await runAgent(second, [
    'init',
    store,
    '--recovery-key-file',
    first.recoveryKey,
    '--label',
    'replacement',
  ])
  t.equal(joined.code, 0, joined.stderr)
  t.match(joined.stdout, /^Joined repository/)
  const target = path.join(work, 'restored')
  t.equal((await runAgent(second, ['restore', 'latest', '--target', target])).code, 0)
  t.same(describeTree(path.join(target, src)), describeTree(src))

  const keys = json((await runAgent(second, ['keys', '--json'])).stdout) as unknown as {
    fingerprint: string
    kind: string
    label: string
    thisDevice: boolean
  }[]
  t.same(keys.map((k) => k.kind).sort(), ['device', 'device', 'recovery'])
  const recoveryList = await runAgent(second, ['keys'])
  t.match(recoveryList.stdout, /recovery/)
  t.equal(
    (
      await runAgent(second, [
        'keys',
        'remove',
        keys.find((k) => k.kind === 'recovery')!.fingerprint,
      ])
    ).code,
    1,
    'the recovery key stays',
  )
  const removed = await runAgent(second, ['keys', 'remove', lost.fingerprint])
  t.equal(removed.code, 0, removed.stderr)
  const own = keys.find((k) => k.thisDevice)!
  const last = await runAgent(second, ['keys', 'remove', own.fingerprint])
  t.equal(last.code, 1)
  t.match(last.stderr, /last device key/)
  t.equal((await runAgent(second, ['verify'])).code, 0)
  await rm(work, { recursive: true, force: true })
})

t.test('prune keeps what the policy says and the rest still restores', async (t) => {
  const work = await tempDir('agent-cli')
  const src = path.join(work, 'src')
  await sampleTree(src)
  const { agentDir } = await initAgent(`file://${work}/store`)
  for (let i = 0; i < 3; i++) {
    await writeFile(path.join(src, `gen-${i}.bin`), pseudoRandom(1000 + i, 2 * MiB))
    t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
  }
  await rm(path.join(src, 'gen-0.bin'))
  await rm(path.join(src, 'gen-1.bin'))
  t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
  const noPolicy = await runAgent(agentDir, ['prune'])
  t.equal(noPolicy.code, 2)
  const dry = await runAgent(agentDir, ['prune', '--keep-last', '1', '--dry-run'])
  t.match(dry.stdout, /would forget 3 snapshots/)
  t.equal(
    JSON.parse((await runAgent(agentDir, ['snapshots', '--json'])).stdout).length,
    4,
    'a dry run changes nothing',
  )
  const pruned = await runAgent(agentDir, ['prune', '--keep-last', '1'])
  t.equal(pruned.code, 0, pruned.stderr)
  t.match(pruned.stdout, /forgot 3 snapshots \(kept 1\) and deleted [1-9]\d* packs/)
  t.equal(JSON.parse((await runAgent(agentDir, ['snapshots', '--json'])).stdout).length, 1)
  const verified = await runAgent(agentDir, ['verify', '--read-data'])
  t.equal(verified.code, 0, verified.stderr)
  const target = path.join(work, 'restored')
  t.equal((await runAgent(agentDir, ['restore', 'latest', '--target', target])).code, 0)
  t.same(describeTree(path.join(target, src)), describeTree(src))
  const next = await runAgent(agentDir, ['backup', src, '--json'])
  t.equal(next.code, 0, next.stderr)
  t.equal(
    JSON.parse(next.stdout).stats.readFiles,
    0,
    'after a prune, unchanged files are still not read',
  )
  await rm(work, { recursive: true, force: true })
})

t.test('status reports the store, the queue and the last backup', async (t) => {
  const work = await tempDir('agent-cli')
  const src = path.join(work, 'src')
  await writeTree(src, { 'a.txt': 'a' })
  const { agentDir } = await initAgent(`file://${work}/store`)
  await runAgent(agentDir, ['backup', src])
  const s = await runAgent(agentDir, ['status', '--json'])
  t.equal(s.code, 0, s.stderr)
  const report = JSON.parse(s.stdout)
  t.equal(report.state, 'online')
  t.same(report.pending, { objects: 0, bytes: 0, snapshots: 0 })
  t.match(report.lastBackup, { queued: false, snapshot: /^[0-9a-f]{64}$/ })
  const missing = await runAgent(path.join(work, 'nowhere'), ['status'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /no repository is set up/)
  await rm(work, { recursive: true, force: true })
})

t.test(
  'init on a terminal shows the recovery key once, and that key lets a new device join',
  { skip: needs('script', ['--version']) },
  async (t) => {
    const work = await tempDir('agent-cli')
    const store = `file://${work}/store`
    const shown = await onTerminal(
      `node ${agentArgs(path.join(work, 'agent'), ['init', store])
        .map((a) => `'${a}'`)
        .join(' ')}`,
      [],
      { cwd: work, env: {} },
    )
    t.equal(shown.code, 0, shown.screen)
    const keys = shown.screen.match(/AGE-SECRET-KEY-1[0-9A-Z]+/g) ?? []
    t.equal(keys.length, 1, 'the recovery key appears exactly once')
    t.match(
      shown.screen,
      /Its fingerprint, which `keystone agent keys` shows: [0-9a-f]{4}(-[0-9a-f]{4}){3}/,
    )
    const keyFile = path.join(work, 'recovery.key')
    await writeFile(keyFile, keys[0]! + '\n', { mode: 0o600 })
    const joined = await runAgent(path.join(work, 'agent2'), [
      'init',
      store,
      '--recovery-key-file',
      keyFile,
    ])
    t.equal(joined.code, 0, joined.stderr)
    await rm(work, { recursive: true, force: true })
  },
)

t.test(
  'bad input: a missing path, an unreadable or wrong recovery key; nothing is changed',
  async (t) => {
    const work = await tempDir('agent-cli')
    const store = `file://${work}/store`
    const { agentDir } = await initAgent(store)
    const missing = await runAgent(agentDir, ['backup', path.join(work, 'no-such-dir')])
    t.equal(missing.code, 1)
    t.match(missing.stderr, /no-such-dir: no such file or directory/)
    t.same(
      JSON.parse((await runAgent(agentDir, ['snapshots', '--json'])).stdout),
      [],
      'no empty snapshot',
    )

    const noFile = await runAgent(path.join(work, 'agent2'), [
      'init',
      store,
      '--recovery-key-file',
      path.join(work, 'nope.key'),
    ])
    t.equal(noFile.code, 1)
    t.match(noFile.stderr, /nope\.key: cannot read the recovery key \(ENOENT\)/)
    const notAKey = path.join(work, 'not-a-key')
    await writeFile(notAKey, 'hello\n')
    const garbage = await runAgent(path.join(work, 'agent2'), [
      'init',
      store,
      '--recovery-key-file',
      notAKey,
    ])
    t.equal(garbage.code, 1)
    t.match(garbage.stderr, /does not hold a recovery key/)
    const other = await initAgent(`file://${work}/other-store`)
    const wrong = await runAgent(path.join(work, 'agent2'), [
      'init',
      store,
      '--recovery-key-file',
      other.recoveryKey,
    ])
    t.equal(wrong.code, 1)
    t.match(wrong.stderr, /is not the recovery key of the repository/)
    t.same(
      await readdir(path.join(work, 'store/keys')).then((k) => k.length),
      2,
      'no key was added',
    )
    for (const r of [missing, noFile, garbage, wrong])
      t.notMatch(r.stderr, /internal error|    at /)

    await writeFile(path.join(agentDir, 'agent.json'), '{ broken')
    const broken = await runAgent(agentDir, ['status'])
    t.equal(broken.code, 1)
    t.match(broken.stderr, /agent\.json: not readable JSON/)
    await rm(work, { recursive: true, force: true })
  },
)
