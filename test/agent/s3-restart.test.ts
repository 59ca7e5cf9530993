import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import {
  describeTree,
  initAgent,
  pseudoRandom,
  runAgent,
  spawnAgent,
  tempDir,
  writeTree,
} from '../helpers/agent.js'
import { needsS3Server, S3_FLAVOURS_TLS, startS3Server } from '../helpers/s3-server.js'

// Proof of safety (c): the S3 server is killed (SIGKILL) and restarted while the daemon backs up
// a tree that keeps changing. Once the changes stop and the daemon has made one more pass, the
// latest snapshot holds every file, byte for byte, and nothing is left queued.
const MiB = 1024 * 1024

for (const flavour of S3_FLAVOURS_TLS)
  t.test(
    `${flavour.name}: the server killed and restarted during backups of a changing tree: every file ends up in the store`,
    { skip: needsS3Server(flavour.kind) },
    async (t) => {
      const server = await startS3Server(flavour)
      t.teardown(() => server.stop())
      const work = await tempDir('s3-restart')
      const src = path.join(work, 'src')
      await writeTree(src, { 'seed.bin': pseudoRandom(1, 4 * MiB) })
      const { agentDir } = await initAgent('s3://keystone-restart/host', server.agentArgs())
      const daemon = spawnAgent(agentDir, ['run', src, '--interval', '1s', '--retry-cap', '1s'])
      let log = ''
      daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()))
      const exited = new Promise<number | null>((resolve) =>
        daemon.once('exit', (code) => resolve(code)),
      )

      // Changes for twelve seconds; the server dies at two and comes back at ten (and answers a
      // moment later). A request gives up after at most 6.2 s (QUICK: six tries, full jitter
      // under 0.2, 0.4, 0.8, 1.6 and 3.2 s; about 3 s on average), and passes run every second
      // and upload packs as they fill, so the first one to meet the outage meets it early and
      // queues. With a four-second outage a pass could ride it out on retries alone (it did,
      // now and then), and the queue went untested.
      let written = 0
      const writer = (async () => {
        const end = Date.now() + 12_000
        while (Date.now() < end) {
          written++
          await writeTree(src, {
            [`d${written % 7}/file-${written}.bin`]: pseudoRandom(
              written,
              4096 + ((written * 7919) % (512 * 1024)),
            ),
          })
          if (written % 10 === 0)
            await writeTree(src, { 'seed.bin': pseudoRandom(written, 4 * MiB) })
          await sleep(20)
        }
      })()
      await sleep(2000)
      await server.kill()
      await sleep(8000)
      await server.start()
      await writer
      const stoppedAt = new Date().toISOString()

      // Wait for a pass that began after the last change and reached the store.
      let settled = false
      for (let i = 0; i < 120 && !settled; i++) {
        await sleep(500)
        const status = JSON.parse((await runAgent(agentDir, ['status', '--json'])).stdout)
        settled =
          status.lastBackup !== undefined &&
          status.lastBackup.time > stoppedAt &&
          !status.lastBackup.queued &&
          status.pending.objects === 0
      }
      daemon.kill('SIGTERM')
      t.equal(await exited, 0, 'the daemon stops cleanly')
      t.ok(
        settled,
        `a pass after the changes reached the store: ${log.split('\n').slice(-5).join(' | ')}`,
      )
      t.match(log, /queued: the store is unreachable/, 'some pass ran while the server was down')
      t.ok(written > 50, `${written} files written during the test`)

      const target = path.join(work, 'r')
      const r = await runAgent(agentDir, ['restore', 'latest', '--target', target])
      t.equal(r.code, 0, r.stderr)
      t.same(describeTree(path.join(target, src)), describeTree(src), 'every file, byte for byte')
      t.equal((await runAgent(agentDir, ['verify', '--read-data'])).code, 0)
    },
  )
