import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { AgentHome } from '../../cli/agent/home/agent-home.js'
import { Lease } from '../../cli/agent/repository/lease.js'
import { Repository } from '../../cli/agent/repository/repository.js'
import { openStore } from '../../cli/store/open-store.js'
import {
  describeTree,
  initAgent,
  pseudoRandom,
  runAgent,
  spawnAgent,
  tempDir,
  writeTree,
} from '../helpers/agent.js'
import {
  needsS3Server,
  S3_FLAVOURS,
  startS3Server,
  type TestS3Server,
} from '../helpers/s3-server.js'

// The agent against real S3 servers on loopback (MinIO and SeaweedFS, over HTTP and TLS): round
// trip, bad credentials and an untrusted certificate, leases by conditional writes, and a store
// that goes away and comes back.
const MiB = 1024 * 1024
let bucket = 0
const newRepo = () => `s3://keystone-test-${++bucket}/host1`

// Prune never runs beside a backup, nor two prunes together: by conditional writes on S3, by
// exclusive creates in a folder.
async function leases(t: Test, store: string, storeArgs: string[]) {
  const { agentDir } = await initAgent(store, storeArgs)
  const home = new AgentHome(agentDir)
  const repo = await Repository.open(await openStore(home.readSettings()), home.readDeviceKey())

  const backup = await Lease.shared(repo, 'laptop')
  await t.rejects(Lease.exclusive(repo, 'server'), /a backup is running on laptop/)
  const cli = await runAgent(agentDir, ['prune', '--keep-last', '1'])
  t.equal(cli.code, 1)
  t.match(cli.stderr, /a backup is running on laptop/)
  await backup.release()

  const pruning = await Lease.exclusive(repo, 'server')
  await t.rejects(Lease.exclusive(repo, 'other'), /another prune is running on server/)
  await t.rejects(Lease.shared(repo, 'laptop'), /prune is running on server/)
  await pruning.release()
  const again = await Lease.exclusive(repo, 'other')
  await again.release()
  t.same(
    (await repo.list('locks/')).map((o) => o.name),
    [],
    'released leases are gone',
  )
}

t.test('leases on a folder store', async (t) => {
  const work = await tempDir('lease')
  await leases(t, `file://${work}/store`, [])
})

for (const flavour of S3_FLAVOURS) {
  t.test(flavour.name, { skip: needsS3Server(flavour.kind) }, async (t) => {
    const server: TestS3Server = await startS3Server(flavour)
    t.teardown(() => server.stop())

    t.test('backup, no-change pass and restore on S3', async (t) => {
      const work = await tempDir('s3')
      const src = path.join(work, 'src')
      await writeTree(src, {
        'a.txt': 'alpha',
        'big.bin': pseudoRandom(7, 12 * MiB),
        'd/b.txt': 'beta',
      })
      for (let i = 0; i < 300; i++)
        await writeTree(src, { [`many/f-${i}.txt`]: pseudoRandom(i, 2048) })
      const { agentDir } = await initAgent(newRepo(), server.agentArgs())
      const first = await runAgent(agentDir, ['backup', src, '--json'])
      t.equal(first.code, 0, first.stderr)
      const s = JSON.parse(first.stdout).stats
      t.ok(s.uploads <= 6, `303 files in ${s.uploads} PUTs (packs, index, snapshot)`)
      const again = JSON.parse((await runAgent(agentDir, ['backup', src, '--json'])).stdout).stats
      t.equal(again.readFiles, 0)
      t.equal(again.uploads, 1)
      const target = path.join(work, 'r')
      const r = await runAgent(agentDir, ['restore', 'latest', '--target', target])
      t.equal(r.code, 0, r.stderr)
      t.same(describeTree(path.join(target, src)), describeTree(src))
      t.equal((await runAgent(agentDir, ['verify', '--read-data'])).code, 0)
    })

    t.test('wrong S3 credentials: one line and exit 1', async (t) => {
      const work = await tempDir('s3')
      const bad = path.join(work, 'bad-credentials')
      await writeFile(bad, 'AWS_ACCESS_KEY_ID=keystone-test\nAWS_SECRET_ACCESS_KEY=wrong-secret\n')
      const r = await runAgent(path.join(work, 'agent'), [
        'init',
        newRepo(),
        ...server.agentArgs().slice(0, 2),
        '--s3-credentials',
        bad,
        ...server.agentArgs().slice(4),
        '--write-recovery-key',
        path.join(work, 'rk'),
      ])
      t.equal(r.code, 1)
      t.match(r.stderr, /HTTP 403.*check the access key and secret/)
      t.notMatch(r.stderr, /internal error|    at /)
      const empty = path.join(work, 'empty-credentials')
      await writeFile(empty, '# nothing\n')
      const e = await runAgent(path.join(work, 'agent'), [
        'init',
        newRepo(),
        ...server.agentArgs().slice(0, 2),
        '--s3-credentials',
        empty,
        ...server.agentArgs().slice(4),
        '--write-recovery-key',
        path.join(work, 'rk2'),
      ])
      t.equal(e.code, 1)
      t.match(e.stderr, /no S3 credentials in it/)
    })

    t.test(
      'a flipped byte in a pack in the bucket: verify and restore exit 3 naming it',
      async (t) => {
        const work = await tempDir('s3-tamper')
        const src = path.join(work, 'src')
        await writeTree(src, { 'a.txt': 'alpha\n', 'big.bin': pseudoRandom(11, 2 * MiB) })
        const { agentDir } = await initAgent(newRepo(), server.agentArgs())
        t.equal((await runAgent(agentDir, ['backup', src])).code, 0)
        // Damaged where it is kept: rewritten through the S3 API, as a faulty disk or a hostile
        // server would hand it back.
        const store = await openStore(new AgentHome(agentDir).readSettings())
        const packs = (await store.list('data/')).sort((a, b) => b.size - a.size)
        const name = packs[0]!.name
        const bytes = await store.get(name)
        bytes[Math.floor(bytes.length / 2)]! ^= 0x40
        await store.put(name, bytes)
        const verified = await runAgent(agentDir, ['verify', '--read-data'])
        t.equal(verified.code, 3, verified.stderr)
        t.ok(verified.stderr.includes(name), `verify names ${name}`)
        t.notMatch(verified.stderr, /internal error|    at /)
        const restored = await runAgent(agentDir, [
          'restore',
          'latest',
          '--target',
          path.join(work, 'r'),
        ])
        t.equal(restored.code, 3, restored.stderr)
        t.ok(restored.stderr.includes(name), `restore names ${name}`)
      },
    )

    if (flavour.tls)
      t.test('a certificate from an untrusted CA: init says how to trust it, exit 1', async (t) => {
        const work = await tempDir('s3-ca')
        const r = await runAgent(path.join(work, 'agent'), [
          'init',
          newRepo(),
          ...server.agentArgs().slice(0, 4),
          '--write-recovery-key',
          path.join(work, 'rk'),
        ])
        t.equal(r.code, 1)
        t.match(r.stderr, /not signed by a trusted CA .* — pass --s3-ca <file>/)
        t.notMatch(r.stderr, /internal error|    at /)
        t.notOk(
          existsSync(path.join(work, 'rk')),
          'no recovery key written for a repository that was not made',
        )
        const notPem = path.join(work, 'not-a-certificate')
        await writeFile(notPem, 'hello\n')
        const p = await runAgent(path.join(work, 'agent'), [
          'init',
          newRepo(),
          ...server.agentArgs().slice(0, 4),
          '--s3-ca',
          notPem,
          '--write-recovery-key',
          path.join(work, 'rk'),
        ])
        t.equal(p.code, 1)
        t.match(p.stderr, /not-a-certificate: not a PEM certificate/)
      })

    t.test('leases on S3', async (t) => {
      await leases(t, newRepo(), server.agentArgs())
    })

    t.test(
      'the store goes down: the backup queues (exit 75), status says offline, the daemon drains it',
      async (t) => {
        const work = await tempDir('s3-offline')
        const src = path.join(work, 'src')
        await writeTree(src, { 'a.txt': 'one', 'big.bin': pseudoRandom(8, 3 * MiB) })
        const { agentDir } = await initAgent(newRepo(), server.agentArgs())
        t.equal((await runAgent(agentDir, ['backup', src])).code, 0)

        await server.kill()
        await writeTree(src, { 'b.txt': 'two', 'new.bin': pseudoRandom(9, 2 * MiB) })
        const queued = await runAgent(agentDir, ['backup', src])
        t.equal(queued.code, 75, queued.stderr)
        t.match(queued.stderr, /the store is unreachable .*: the snapshot is queued on this device/)
        const status = JSON.parse((await runAgent(agentDir, ['status', '--json'])).stdout)
        t.equal(status.state, 'offline')
        t.equal(status.pending.snapshots, 1)
        t.ok(status.pending.bytes > 2 * MiB, `${status.pending.bytes} bytes pending`)
        await writeTree(src, { 'c.txt': 'three' })
        t.equal(
          (await runAgent(agentDir, ['backup', src])).code,
          75,
          'a second pass queues behind the first',
        )

        const daemon = spawnAgent(agentDir, ['run', src, '--interval', '1h', '--retry-cap', '1s'])
        let log = ''
        daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()))
        await sleep(2000)
        await server.start()
        let pending = -1
        for (let i = 0; i < 60 && pending !== 0; i++) {
          await sleep(500)
          pending = JSON.parse((await runAgent(agentDir, ['status', '--json'])).stdout).pending
            .objects
        }
        t.equal(pending, 0, 'the queue drained once the store was back')
        const exited = new Promise<number | null>((resolve) =>
          daemon.once('exit', (code) => resolve(code)),
        )
        daemon.kill('SIGTERM')
        t.equal(await exited, 0, `the daemon stops cleanly on SIGTERM: ${log}`)

        const snapshots = JSON.parse((await runAgent(agentDir, ['snapshots', '--json'])).stdout)
        t.ok(snapshots.length >= 3, 'every queued snapshot reached the store')
        t.equal((await runAgent(agentDir, ['verify', '--read-data'])).code, 0)
        const target = path.join(work, 'r')
        t.equal((await runAgent(agentDir, ['restore', 'latest', '--target', target])).code, 0)
        t.same(describeTree(path.join(target, src)), describeTree(src))
      },
    )
  })
}
