import { readdir, readFile, rm, utimes, writeFile, mkdir } from 'node:fs/promises'
import path from 'node:path'
import t from 'tap'
import { describeTree, runAgent, tempDir } from '../helpers/agent.js'
import { needsS3Server, S3_FLAVOURS_TLS, startS3Server } from '../helpers/s3-server.js'

// Two-way sync between two real agent processes (separate state, separate trees) through one
// real S3 server: a new file and an edit reach the other device, a deletion follows, a true
// conflict keeps both versions, a file still being written waits, and with the server gone the
// changes wait on the device and arrive once it is back.
for (const flavour of S3_FLAVOURS_TLS)
  t.test(
    `two devices through ${flavour.name}: changes, deletions, a conflict, the server away and back`,
    { skip: needsS3Server(flavour.kind) },
    async (t) => {
      const server = await startS3Server(flavour)
      t.teardown(() => server.stop())
      const work = await tempDir('two-way')
      t.teardown(() => rm(work, { recursive: true, force: true }))
      const store = 's3://keystone-two-way/repo'
      const s3 = server.agentArgs()
      const alpha = path.join(work, 'alpha')
      const beta = path.join(work, 'beta')
      const A = path.join(work, 'A')
      const B = path.join(work, 'B')
      await mkdir(A)
      await mkdir(B)
      const init = (dir: string, label: string, join: string[]) =>
        runAgent(dir, ['init', store, '--label', label, ...s3, ...join])
      t.equal((await init(alpha, 'alpha', ['--write-recovery-key', path.join(work, 'rk')])).code, 0)
      t.equal((await init(beta, 'beta', ['--recovery-key-file', path.join(work, 'rk')])).code, 0)
      // Written a minute ago: settled, so the round takes it (the settle time has its own check).
      const write = async (file: string, text: string) => {
        await mkdir(path.dirname(file), { recursive: true })
        await writeFile(file, text)
        const then = new Date(Date.now() - 60_000)
        await utimes(file, then, then)
      }
      // Files with their mode, size, time and content; directories without their time, which moves
      // whenever a file in them is written.
      const tree = (dir: string) =>
        Object.fromEntries(
          Object.entries(describeTree(dir)).map(([p, d]) => [
            p,
            d.startsWith('dir ') ? d.replace(/ \d+$/, '') : d,
          ]),
        )
      const sync = (agentDir: string, dir: string, extra: string[] = []) =>
        runAgent(agentDir, ['sync', dir, '--folder', 'shared', ...extra])
      const both = async () => {
        for (const [a, d] of [
          [alpha, A],
          [beta, B],
          [alpha, A],
        ] as const) {
          const r = await sync(a, d)
          t.equal(r.code, 0, r.stderr)
        }
      }

      await write(path.join(A, 'docs/plan.txt'), 'plan v1\n')
      await write(path.join(A, 'notes.md'), 'notes\n')
      await both()
      t.same(tree(B), tree(A), 'a new file reaches the other device, with its time and mode')

      await write(path.join(B, 'docs/plan.txt'), 'plan v2 from beta\n')
      await both()
      t.equal(
        await readFile(path.join(A, 'docs/plan.txt'), 'utf8'),
        'plan v2 from beta\n',
        'an edit comes back',
      )

      await rm(path.join(A, 'notes.md'))
      await both()
      t.same(
        await readdir(B),
        ['docs'],
        'a deletion follows when the other side did not change the file',
      )

      await write(path.join(A, 'docs/plan.txt'), 'plan v3 from alpha\n')
      await write(path.join(B, 'docs/plan.txt'), 'plan v3 from beta\n')
      t.equal((await sync(alpha, A)).code, 0)
      const round = await sync(beta, B, ['--json'])
      t.equal(round.code, 0, round.stderr)
      const conflicts = (JSON.parse(round.stdout) as { conflicts: string[] }).conflicts
      t.match(conflicts, [/^docs\/plan\.conflict-beta-\d{8}-\d{6}\.txt$/])
      await both()
      t.same(tree(B), tree(A), 'both devices hold the same tree after the conflict')
      t.equal(await readFile(path.join(A, 'docs/plan.txt'), 'utf8'), 'plan v3 from alpha\n')
      t.equal(
        await readFile(path.join(A, conflicts[0]!), 'utf8'),
        'plan v3 from beta\n',
        'neither version is lost',
      )

      await writeFile(path.join(A, 'docs/draft.txt'), 'half a sent')
      const held = await sync(alpha, A, ['--settle', '1h'])
      t.match(held.stdout, /left for the next round: docs\/draft\.txt/)
      t.equal((await sync(beta, B)).code, 0)
      t.notOk(
        (await readdir(path.join(B, 'docs'))).includes('draft.txt'),
        'a file being written is not synced half-way',
      )
      await write(path.join(A, 'docs/draft.txt'), 'half a sentence, now whole\n')

      await server.kill()
      await write(path.join(A, 'offline.txt'), 'made while the store was away\n')
      const away = await sync(alpha, A)
      t.equal(away.code, 75, 'the store away: the changes wait on the device (exit 75)')
      t.match(
        away.stderr,
        /^keystone: the store is unreachable .*: this folder's changes wait on this device\n/,
      )
      const status = await runAgent(alpha, ['status', '--json'])
      t.equal((JSON.parse(status.stdout) as { state: string }).state, 'offline')
      await server.start()
      await both()
      t.same(tree(B), tree(A), 'after the store is back, the devices converge')
      t.equal(await readFile(path.join(B, 'offline.txt'), 'utf8'), 'made while the store was away\n')
      t.equal(await readFile(path.join(B, 'docs/draft.txt'), 'utf8'), 'half a sentence, now whole\n')
    },
  )

t.test('a temporary file left by a round cut short is removed, never synced', async (t) => {
  const work = await tempDir('two-way-temp')
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const store = `file://${work}/store`
  const [A, B] = [path.join(work, 'A'), path.join(work, 'B')]
  await mkdir(path.join(A, 'sub'), { recursive: true })
  await mkdir(B)
  const alpha = path.join(work, 'alpha')
  const beta = path.join(work, 'beta')
  const rk = path.join(work, 'rk')
  t.equal(
    (await runAgent(alpha, ['init', store, '--label', 'alpha', '--write-recovery-key', rk])).code,
    0,
  )
  t.equal(
    (await runAgent(beta, ['init', store, '--label', 'beta', '--recovery-key-file', rk])).code,
    0,
  )
  await writeFile(path.join(A, 'sub/kept.txt'), 'kept\n')
  await writeFile(path.join(A, 'sub/.keystone-sync-0123456789ab'), 'half a remote fi')
  const sync = (agentDir: string, dir: string) =>
    runAgent(agentDir, ['sync', dir, '--folder', 'shared', '--settle', '0s'])
  t.equal((await sync(alpha, A)).code, 0)
  t.equal((await sync(beta, B)).code, 0)
  t.same(await readdir(path.join(A, 'sub')), ['kept.txt'], 'the leftover is gone')
  t.same(await readdir(path.join(B, 'sub')), ['kept.txt'], 'and never reached the other device')
})
