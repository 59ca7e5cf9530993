import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { parseDocument } from 'yaml'
import { newIdentity } from '../../cli/vault/age.js'
import { runAgent, spawnAgent, tempDir } from '../helpers/agent.js'
import { needsS3Server, S3_FLAVOURS_TLS, startS3Server } from '../helpers/s3-server.js'
import { keystone, repoRoot, tempFleet } from '../helpers/temp-fleet.js'

const mainJs = path.join(repoRoot, 'dist/cli/main.js')

// `keystone fleet status` end to end: real agent processes publish signed heartbeats into a
// store, the admin's command reads them back and judges them; then the store is tampered with,
// file by file, as someone with write access to the bucket could.
interface Row {
  host: string
  state: string
  lastPass?: string
  detail?: string
  pending?: { objects: number }
  secureBoot?: string
  tpm?: string
  enrollment?: string
}

async function setSync(fleet: string, host: string, sync: Record<string, unknown>): Promise<void> {
  const file = path.join(fleet, 'hosts', `${host}.yaml`)
  const doc = parseDocument(await readFile(file, 'utf8'))
  for (const [key, value] of Object.entries(sync)) doc.setIn(['sync', key], value)
  await writeFile(file, doc.toString())
}

async function newAgent(
  dir: string,
  store: string,
  label: string,
  extra: string[] = [],
  join?: string,
) {
  const r = await runAgent(dir, [
    'init',
    store,
    ...(join === undefined
      ? ['--write-recovery-key', `${dir}.recovery`]
      : ['--recovery-key-file', join]),
    '--label',
    label,
    ...extra,
  ])
  if (r.code !== 0) throw new Error(r.stderr)
  return `${dir}.recovery`
}

async function heartbeat(dir: string, extra: string[] = []): Promise<string> {
  const r = await runAgent(dir, ['heartbeat', ...extra])
  if (r.code !== 0) throw new Error(r.stderr)
  return /agent key (ed25519:\S+)/.exec(r.stdout)![1]!
}

t.test(
  'heartbeats in a folder store: ok, then forged, replayed, chain broken, rolled back',
  async (t) => {
    const fleet = await tempFleet(t)
    const work = await tempDir('fleet')
    t.teardown(() => rm(work, { recursive: true, force: true }))
    const env = { XDG_STATE_HOME: path.join(work, 'state') }
    const status = async () => {
      const r = await keystone(['fleet', 'status', '--json', '--fleet', fleet], { env })
      return { ...r, rows: r.stdout === '' ? [] : (JSON.parse(r.stdout) as Row[]) }
    }
    const stateOf = (rows: Row[], host: string) => rows.find((r) => r.host === host)?.state

    for (const host of ['web1', 'storage1']) {
      const store = `file://${work}/store-${host}`
      await newAgent(path.join(work, `agent-${host}`), store, host)
      const key = await heartbeat(path.join(work, `agent-${host}`))
      await setSync(fleet, host, {
        enable: true,
        store,
        agentKey: key,
        paths: [{ path: '/srv/data' }],
      })
    }
    let r = await status()
    t.equal(r.code, 0, r.stderr)
    t.equal(stateOf(r.rows, 'web1'), 'ok')
    t.equal(stateOf(r.rows, 'storage1'), 'ok')
    t.equal(stateOf(r.rows, 'desk1'), 'never seen')
    t.match(
      r.rows.find((x) => x.host === 'web1'),
      { pending: { objects: 0 }, tpm: 'absent', enrollment: 'not enrolled' },
    )

    const web1 = path.join(work, 'agent-web1')
    const dir = path.join(work, 'store-web1', 'fleet', 'web1')
    const hb = (seq: number) => path.join(dir, `${String(seq).padStart(12, '0')}.json`)
    await heartbeat(web1)
    t.equal(stateOf((await status()).rows, 'web1'), 'ok', 'heartbeat 2 follows 1')

    const good = await readFile(hb(2))
    const flipped = Buffer.from(good)
    flipped[40]! ^= 0x01
    await writeFile(hb(2), flipped)
    r = await status()
    t.equal(r.code, 3, 'a forged chain exits 3')
    t.equal(stateOf(r.rows, 'web1'), 'forged')
    t.match(r.stderr, /^keystone: web1 \(forged\): heartbeats that do not verify\n/)
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
    await writeFile(hb(2), good)

    await copyFile(hb(1), hb(3))
    r = await status()
    t.equal(stateOf(r.rows, 'web1'), 'replayed', 'an old heartbeat under the next name')
    t.equal(r.code, 3)
    const refused = await runAgent(web1, ['heartbeat'])
    t.equal(refused.code, 1, 'the agent does not write after a record that is not its own')
    t.match(refused.stderr, /000000000003\.json is in the way and is not this agent's record/)
    await rm(hb(3))

    await heartbeat(web1) // 3
    t.equal(stateOf((await status()).rows, 'web1'), 'ok')
    await heartbeat(web1) // 4
    const second = await readFile(hb(4))
    await rm(hb(4))
    await rm(hb(3))
    r = await status()
    t.equal(
      stateOf(r.rows, 'web1'),
      'replayed',
      'the newest heartbeats deleted: the bucket looks rolled back',
    )
    t.match(
      r.rows.find((x) => x.host === 'web1')!.detail,
      /the newest heartbeat is 2, but 3 was verified/,
    )
    await writeFile(hb(4), second)
    r = await status()
    t.equal(stateOf(r.rows, 'web1'), 'chain broken', 'heartbeat 3 stays missing')
    t.match(
      r.rows.find((x) => x.host === 'web1')!.detail,
      /heartbeats since 3 .* are missing|heartbeat 3 is missing/,
    )

    // A damaged memory of what was verified: one line naming it, not a stack trace.
    await writeFile(path.join(work, 'state/keystone/fleet-seen.json'), '{"half')
    const damaged = await status()
    t.equal(damaged.code, 1)
    t.match(damaged.stderr, /^keystone: .*fleet-seen\.json: not readable JSON/)
    await rm(path.join(work, 'state/keystone/fleet-seen.json'))

    // --watch shows the fleet again every interval until Ctrl-C, then exits as a single look would.
    const watching = spawn(
      process.execPath,
      [mainJs, 'fleet', 'status', '--watch', '--interval', '1', '--fleet', fleet],
      {
        env: { ...process.env, ...env, KEYSTONE_FLEET: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let shown = ''
    watching.stdout.on('data', (d: Buffer) => (shown += d.toString()))
    // Until the second look is on screen (a loaded machine may take longer than the interval).
    const looks = () => (shown.match(/^HOST +STATE/gm) ?? []).length
    for (let waited = 0; looks() < 2 && waited < 60_000; waited += 100) await sleep(100)
    watching.kill('SIGINT')
    const code = await new Promise((resolve) => watching.once('close', resolve))
    t.ok(looks() >= 2, 'shown at least twice')
    t.equal(code, 3, 'and the exit code says the chain is broken')
  },
)

for (const flavour of S3_FLAVOURS_TLS)
  t.test(
    `two agents on ${flavour.name}: both ok; the server down: one line, exit 1; back: ok`,
    { skip: needsS3Server(flavour.kind) },
    async (t) => {
      const server = await startS3Server(flavour)
      t.teardown(() => server.stop())
      const fleet = await tempFleet(t)
      const work = await tempDir('fleet-s3')
      t.teardown(() => rm(work, { recursive: true, force: true }))
      const env = { XDG_STATE_HOME: path.join(work, 'state') }
      const store = 's3://keystone-fleet/repo'
      const s3 = server.agentArgs()
      const recovery = await newAgent(path.join(work, 'agent-web1'), store, 'web1', s3)
      await newAgent(path.join(work, 'agent-storage1'), store, 'storage1', s3, recovery)
      const daemons: ChildProcess[] = []
      for (const host of ['web1', 'storage1']) {
        const data = path.join(work, `data-${host}`)
        await mkdir(data)
        await writeFile(path.join(data, 'notes.txt'), `${host}\n`)
        const key = await heartbeat(path.join(work, `agent-${host}`))
        await setSync(fleet, host, {
          enable: true,
          store,
          endpoint: server.endpoint,
          agentKey: key,
          paths: [{ path: data }],
        })
        const daemon = spawnAgent(path.join(work, `agent-${host}`), [
          'run',
          data,
          '--interval',
          '2s',
          '--retry-cap',
          '1s',
          '--heartbeat',
        ])
        daemons.push(daemon)
      }
      t.teardown(() => daemons.forEach((d) => d.kill('SIGKILL')))
      const status = async () => {
        const r = await keystone(
          ['fleet', 'status', '--json', '--fleet', fleet, ...server.agentArgs().slice(2)],
          { env },
        )
        return { ...r, rows: r.stdout === '' ? [] : (JSON.parse(r.stdout) as Row[]) }
      }
      // Until both daemons have published a heartbeat after a pass (the first came from `heartbeat`).
      const published = (rows: Row[], after: string) =>
        ['web1', 'storage1'].every((h) => (rows.find((x) => x.host === h)?.lastPass ?? '') > after)
      let r = await status()
      for (let i = 0; i < 100 && !(r.code === 0 && published(r.rows, '')); i++) {
        await sleep(200)
        r = await status()
      }
      t.equal(r.code, 0, r.stderr)
      t.ok(published(r.rows, ''), 'each daemon published a heartbeat after its pass')
      t.same(
        r.rows.filter((x) => x.host !== 'desk1').map((x) => [x.host, x.state]),
        [
          ['storage1', 'ok'],
          ['web1', 'ok'],
        ],
      )

      await server.kill()
      r = await status()
      t.equal(r.code, 1, 'the store down: exit 1')
      t.same(
        r.rows.filter((x) => x.host !== 'desk1').map((x) => x.state),
        ['unreachable', 'unreachable'],
      )
      t.match(r.stderr, /^keystone: storage1 \(unreachable\), web1 \(unreachable\) need a look\n/)
      t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')

      const restarted = new Date().toISOString()
      await server.start()
      r = await status()
      for (let i = 0; i < 100 && !(r.code === 0 && published(r.rows, restarted)); i++) {
        await sleep(300)
        r = await status()
      }
      t.equal(r.code, 0, `back: ${r.stdout}`)
      t.ok(published(r.rows, restarted), 'the daemons went on publishing after the server came back')
      for (const d of daemons) d.kill('SIGTERM')
    },
  )

t.test(
  'the audit log: a published snapshot becomes a signed event the heartbeat vouches for',
  async (t) => {
    const work = await tempDir('audit')
    t.teardown(() => rm(work, { recursive: true, force: true }))
    const agent = path.join(work, 'agent')
    await newAgent(agent, `file://${work}/store`, 'web1')
    await mkdir(path.join(work, 'data'))
    await writeFile(path.join(work, 'data', 'a.txt'), 'a\n')
    t.equal((await runAgent(agent, ['backup', path.join(work, 'data')])).code, 0)
    await heartbeat(agent)
    const event = await readFile(path.join(work, 'store/fleet/web1/audit/000000000001.json'))
    const beat = JSON.parse(
      await readFile(path.join(work, 'store/fleet/web1/000000000001.json'), 'utf8'),
    ) as {
      audit: { seq: number; hash: string }
    }
    t.match(JSON.parse(event.toString()), {
      kind: 'audit',
      seq: 1,
      prev: null,
      event: { type: 'snapshot-published' },
    })
    t.same(beat.audit, { seq: 1, hash: createHash('sha256').update(event).digest('hex') })

    const other = await newIdentity()
    t.equal((await runAgent(agent, ['keys', 'add', other.recipient, '--label', 'laptop'])).code, 0)
    await heartbeat(agent)
    const added = JSON.parse(
      await readFile(path.join(work, 'store/fleet/web1/audit/000000000002.json'), 'utf8'),
    ) as { prev: string; event: { type: string; detail: string } }
    t.match(added, {
      prev: createHash('sha256').update(event).digest('hex'),
      event: { type: 'key-added', detail: /\(laptop\)$/ },
    })
  },
)
