import { spawn } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { newIdentity } from '../../cli/vault/age.js'
import { agentArgs, initAgent, runAgent, spawnAgent, tempDir } from '../helpers/agent.js'
import { needs } from '../helpers/needs.js'
import { freePort } from '../helpers/loopback-port.js'

// What the NixOS module relies on: the daemon in watch mode, its metrics and health endpoint,
// `status --check`, and a host joining with its own age key once an admin added it.
async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

t.test('watch mode: a change starts a pass within seconds, not at the next interval', async (t) => {
  const work = await tempDir('daemon')
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const data = path.join(work, 'data')
  await mkdir(path.join(data, 'deep/er'), { recursive: true })
  await writeFile(path.join(data, 'a.txt'), 'one\n')
  const { agentDir } = await initAgent(`file://${work}/store`)
  const port = await freePort()
  const daemon = spawnAgent(agentDir, [
    'run',
    data,
    '--interval',
    '1h',
    '--watch',
    '--debounce',
    '1s',
    '--metrics',
    `127.0.0.1:${port}`,
  ])
  t.teardown(() => daemon.kill('SIGKILL'))
  let log = ''
  daemon.stderr!.on('data', (d: Buffer) => (log += d.toString()))
  await until('the first pass', async () =>
    /snapshot [0-9a-f]{8}: 1 files/.test(log) ? true : undefined,
  )

  await writeFile(path.join(data, 'deep/er/b.txt'), 'two\n')
  await until(
    'a pass after the change',
    async () => (/snapshot [0-9a-f]{8}: 2 files, 1 read/.test(log) ? true : undefined),
    10_000,
  )
  t.pass('a new file in a subdirectory was backed up long before the hour was over')
  await mkdir(path.join(data, 'new/inner'), { recursive: true })
  await sleep(300) // the new directories get their watches
  await writeFile(path.join(data, 'new/inner/c.txt'), 'three\n')
  await until(
    'a pass after a change in a new directory',
    async () => (/snapshot [0-9a-f]{8}: 3 files, 1 read/.test(log) ? true : undefined),
    10_000,
  )

  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  t.match(metrics, /^keystone_agent_passes_total\{result="ok"\} [34]$/m)
  t.match(metrics, /^keystone_agent_pending_objects 0$/m)
  t.match(metrics, /^keystone_agent_last_pass_timestamp_seconds \d{10}$/m)
  t.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200)
  const check = await runAgent(agentDir, ['status', '--check'])
  t.equal(check.code, 0, check.stderr)

  daemon.kill('SIGTERM')
  await new Promise((resolve) => daemon.once('close', resolve))
  await sleep(1100)
  const stale = await runAgent(agentDir, ['status', '--check', '--max-age', '1s'])
  t.equal(stale.code, 1, 'a daemon that stopped reporting fails the check')
  t.match(stale.stderr, /^keystone: the agent daemon in .* has not reported for more than 1 s\n/)
})

t.test(
  'an exhausted inotify watch limit: one warning, and changes are still found by the scan',
  { skip: needs('unshare', ['--user', '--map-root-user', 'true']) },
  async (t) => {
    const work = await tempDir('daemon')
    t.teardown(() => rm(work, { recursive: true, force: true }))
    const data = path.join(work, 'data')
    for (const d of ['a', 'b', 'c', 'd', 'e/f'])
      await mkdir(path.join(data, d), { recursive: true })
    const { agentDir } = await initAgent(`file://${work}/store`)
    // A user namespace of its own, where three inotify watches are all there is.
    const daemon = spawn(
      'unshare',
      [
        '--user',
        '--map-root-user',
        'sh',
        '-c',
        'echo 3 > /proc/sys/user/max_inotify_watches && exec "$0" "$@"',
        process.execPath,
        ...agentArgs(agentDir, ['run', data, '--interval', '2s', '--watch', '--debounce', '1s']),
      ],
      { env: { ...process.env, KEYSTONE_AGENT_DIR: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    t.teardown(() => daemon.kill('SIGKILL'))
    let log = ''
    daemon.stderr.on('data', (d: Buffer) => (log += d.toString()))
    await until('the first pass', async () =>
      /snapshot [0-9a-f]{8}: /.test(log) ? true : undefined,
    )
    await writeFile(path.join(data, 'e/f/late.txt'), 'found anyway\n')
    await until('a pass that found the new file', async () =>
      /snapshot [0-9a-f]{8}: 1 files, 1 read/.test(log) ? true : undefined,
    )
    await sleep(2500)
    const warnings =
      log.match(/watching for changes failed \(ENOSPC: the inotify watch limit/g) ?? []
    t.equal(warnings.length, 1, `warned once: ${log}`)
    daemon.kill('SIGTERM')
  },
)

t.test('metrics are served on loopback only', async (t) => {
  const work = await tempDir('daemon')
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const { agentDir } = await initAgent(`file://${work}/store`)
  const r = await runAgent(agentDir, ['run', work, '--metrics', '0.0.0.0:9464'])
  t.equal(r.code, 2)
  t.match(r.stderr, /--metrics 0\.0\.0\.0:9464: expected a loopback address and port/)
})

t.test('a host joins with its own age key once an admin added it to the key ring', async (t) => {
  const work = await tempDir('daemon')
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const store = `file://${work}/store`
  const admin = await initAgent(store)
  const host = await newIdentity()
  const keyFile = path.join(work, 'age.key')
  await writeFile(keyFile, host.identity + '\n', { mode: 0o400 })
  const hostDir = path.join(work, 'host-agent')
  const join = () =>
    runAgent(hostDir, ['init', store, '--device-key-file', keyFile, '--label', 'web1'])
  const refused = await join()
  t.equal(refused.code, 1)
  t.match(
    refused.stderr,
    new RegExp(
      `not in the key ring .*\\n  hint: add it from a device that is: \`keystone agent keys add ${host.recipient} --label web1\``,
    ),
  )

  t.equal(
    (await runAgent(admin.agentDir, ['keys', 'add', host.recipient, '--label', 'web1'])).code,
    0,
  )
  const joined = await join()
  t.equal(joined.code, 0, joined.stderr)
  t.match(joined.stdout, new RegExp(`this device's key is ${keyFile}`))
  const settings = JSON.parse(await readFile(path.join(hostDir, 'agent.json'), 'utf8')) as {
    deviceKeyFile: string
  }
  t.equal(settings.deviceKeyFile, keyFile, 'the key stays where it is, not copied')
  await mkdir(path.join(work, 'data'))
  await writeFile(path.join(work, 'data/x'), 'x')
  t.equal((await runAgent(hostDir, ['backup', path.join(work, 'data')])).code, 0)
})
