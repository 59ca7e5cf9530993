import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { parseDocument } from 'yaml'
import { startSshd, type TestSshd } from './sshd.js'
import { repoRoot } from './temp-fleet.js'
import { runKeystone, vaultWithAdmin } from './vault-cli.js'

const execFileAsync = promisify(execFile)
export const fakeNixDir = path.join(repoRoot, 'test/fixtures/fake-nixos-anywhere')
export const hostToolsDir = path.join(repoRoot, 'test/fixtures/keystone-host-tools')
export const hardware = (name: string) => path.join(repoRoot, 'test/fixtures/hardware', name)

export interface RecordedRun {
  argv: string[]
  cwd: string
}

// A fleet in git with an initialised vault, whose host `name` is reached at a real sshd on
// loopback; nixos-anywhere is the recording stand-in (test/fixtures/fake-nixos-anywhere/nix) and
// the installed system's tools are stand-ins too (test/fixtures/keystone-host-tools). The
// fixture restarts the sshd with the installed host key when the fake reboots the machine.
export async function deployFixture(
  t: { teardown(fn: () => Promise<void> | void): void },
  name: string,
  options: { pin?: boolean; sshdEnv?: Record<string, string>; traceTarget?: boolean } = {},
) {
  const vault = await vaultWithAdmin(t)
  const work = await mkdtemp(path.join(tmpdir(), 'keystone-deploy-test-'))
  t.teardown(() => rm(work, { recursive: true, force: true }))
  const target = path.join(work, 'target')
  const record = path.join(work, 'nix-record.jsonl')
  const hostRecord = path.join(work, 'host-record.txt')
  const state = path.join(work, 'state')
  await execFileAsync('mkdir', ['-p', target, state])
  const sshd: TestSshd = await startSshd({
    pathPrepend: [hostToolsDir],
    env: { FAKE_HOST_RECORD: hostRecord, FAKE_SECURE_BOOT_FILE: path.join(state, 'secure-boot'), ...options.sshdEnv },
    ...(options.traceTarget === true && { traceFile: path.join(work, 'target-trace') }),
  })
  t.teardown(() => sshd.stop())

  const hostFile = path.join(vault.fleet, 'hosts', `${name}.yaml`)
  const doc = parseDocument(await readFile(hostFile, 'utf8'))
  doc.setIn(['ssh', 'address'], '127.0.0.1')
  doc.setIn(['ssh', 'port'], sshd.port)
  doc.setIn(['ssh', 'user'], sshd.user)
  if (options.pin !== false) doc.setIn(['ssh', 'hostKey'], sshd.hostKeyLine)
  await writeFile(hostFile, doc.toString())
  await execFileAsync('git', ['init', '-q'], { cwd: vault.fleet })
  const generated = await runKeystone(['generate', name], {
    cwd: vault.fleet,
    config: vault.config,
  })
  if (generated.code !== 0) throw new Error(`generate failed: ${generated.stderr}`)
  await execFileAsync('git', ['add', '-A'], { cwd: vault.fleet })

  // The machine reboots into the installed system: its sshd now presents the installed host key.
  let stopped = false
  t.teardown(() => {
    stopped = true
  })
  const watchReboot = async () => {
    while (!stopped) {
      if (
        existsSync(path.join(target, 'reboot-requested')) &&
        !existsSync(path.join(target, 'rebooted'))
      ) {
        await sshd.restart({ hostKeyFile: path.join(target, 'mnt/etc/ssh/ssh_host_ed25519_key') })
        await writeFile(path.join(target, 'rebooted'), '')
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  void watchReboot()

  const env = {
    PATH: `${fakeNixDir}:${process.env.PATH}`,
    FAKE_NIX_RECORD: record,
    FAKE_TARGET: target,
    XDG_STATE_HOME: state,
    SSH_AUTH_SOCK: '',
  }
  const run = (args: string[], extra: { env?: Record<string, string>; stdin?: string } = {}) =>
    runKeystone(args, {
      cwd: vault.fleet,
      config: vault.config,
      env: { ...env, ...extra.env },
      ...(extra.stdin !== undefined && { stdin: extra.stdin }),
    })
  const deployArgs = (hardwareTree: string, ...more: string[]) => [
    'deploy',
    name,
    '--ssh-key',
    sshd.clientKeyFile,
    '--probe-root',
    hardware(hardwareTree),
    '--identity',
    vault.key,
    '--boot-timeout',
    '30',
    ...more,
  ]
  const recorded = async (): Promise<RecordedRun[]> =>
    existsSync(record)
      ? (await readFile(record, 'utf8'))
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as RecordedRun)
      : []
  const phasesRun = async () =>
    (await recorded())
      .filter((r) => r.argv[0] === 'run')
      .map((r) => r.argv[r.argv.indexOf('--phases') + 1])
  return {
    ...vault,
    sshd,
    target,
    targetTrace: path.join(work, 'target-trace'),
    record,
    hostRecord,
    state,
    hostFile,
    env,
    run,
    deployArgs,
    recorded,
    phasesRun,
  }
}
