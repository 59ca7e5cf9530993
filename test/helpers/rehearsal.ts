import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { openSsh, type SshSession } from '../../cli/deploy/ssh.js'
import { loadFleet } from '../../cli/host/load-fleet.js'
import type { NixValue } from '../../cli/nix/emit.js'
import { renderDisko } from '../../cli/nix/render-disko.js'
import { consoleLength, typeOnConsole, waitForConsole } from '../../cli/rehearsal/console.js'
import { layoutScript, planLayout, type Layout } from '../../cli/rehearsal/layout-script.js'
import { isRunning, stopMachine } from '../../cli/rehearsal/machine.js'
import { machineFiles } from '../../cli/rehearsal/plan-machine.js'
import { generateValue } from '../../cli/vault/generate-value.js'
import { nixEvalJson } from './nix.js'
import { DEBIAN_OVMF } from '../../cli/rehearsal/plan-machine.js'
import { loadRehearsalImage, rehearsalImageDir } from '../../cli/rehearsal/rehearsal-image.js'
import { rehearseDown, rehearseUp, type UpResult } from '../../cli/rehearsal/run-rehearse.js'
import { missingTool, requireAll } from './needs.js'
import { keystone, repoRoot } from './temp-fleet.js'
import { initVault, runKeystone } from './vault-cli.js'

// The rehearsal machine for tests: QEMU + OVMF (Secure Boot build, setup mode) + swtpm + blank
// virtio disks, booted from the cached guest image through the same code as `keystone rehearse
// up`, and always stopped — QEMU and swtpm by their PIDs — when the test ends, failed or not.

// Why the rehearsal tests cannot run here, or undefined when they can.
function missing(): string | undefined {
  for (const [tool, args] of [
    ['qemu-system-x86_64', ['--version']],
    ['qemu-img', ['--version']],
    ['swtpm', ['--version']],
  ] as const) {
    const problem = missingTool(tool, [...args])
    if (problem !== undefined) return problem
  }
  for (const file of [DEBIAN_OVMF.code, DEBIAN_OVMF.varsTemplate])
    if (!existsSync(file)) return `${file} is missing (Debian package ovmf)`
  if (!existsSync(path.join(rehearsalImageDir(repoRoot), 'manifest.json')))
    return 'the rehearsal image is not built (sudo bash scripts/build-rehearsal-image.sh)'
  return undefined
}

// tap's `skip`: the reason on a laptop without the machine, a failure under KEYSTONE_REQUIRE_ALL=1.
export function needsRehearsal(): false | string {
  const reason = missing()
  if (reason === undefined) return false
  if (requireAll()) throw new Error(`KEYSTONE_REQUIRE_ALL=1 but ${reason}`)
  return `skipped: ${reason}`
}

export interface Rehearsal extends UpResult {
  // The admin key authorized for root in the guest.
  keyFile: string
  publicKey: string
  work: string
  ssh: () => Promise<SshSession>
  // Runs a command as root in the guest and returns its stdout; a non-zero exit throws with stderr.
  sh: (command: string, stdin?: string | Uint8Array) => Promise<string>
  // The serial numbers of the blank disks, and their by-id paths.
  disks: { serial: string; path: string }[]
  // Powers the guest off from inside and waits for QEMU to exit.
  powerOff: () => Promise<void>
  // Starts the machine again; with `passphrase`, types it when the console asks for it, as an
  // admin at the console would (the credstore's first boot).
  boot: (mode: 'installer' | 'disks', passphrase?: string) => Promise<{ console: string }>
  console: () => string
}

// systemd-cryptsetup's prompt on the console: "passphrase" while a passphrase slot exists,
// "recovery key" once enroll left only the recovery and TPM slots (systemd 252).
export const CREDSTORE_PROMPT =
  /Please enter (?:passphrase|recovery key) for disk [^\n]*credstore[^\n]*:/

export async function bootRehearsal(
  t: { teardown(fn: () => Promise<void>): void; comment(...message: unknown[]): void },
  options: { disks?: number; diskSize?: string } = {},
): Promise<Rehearsal> {
  // Unix socket paths must stay under 108 bytes: a short directory of its own.
  const work = await mkdtemp(path.join(tmpdir(), 'ks-rh-'))
  const dir = path.join(work, 'machine')
  const keyFile = path.join(work, 'admin_ed25519')
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'rehearsal-admin',
    '-f',
    keyFile,
  ])
  const publicKey = (await readFile(`${keyFile}.pub`, 'utf8')).trim()
  const quiet = { out: () => {}, err: () => {} }
  // Where an emulated machine's time goes: every boot, and each command that took over 5 s,
  // printed when the machine stops, so a reader of the test log sees what the figures are made of.
  const timings: string[] = []
  const timed = async <T>(what: string, work: Promise<T>): Promise<T> => {
    const began = Date.now()
    const result = await work
    const ms = Date.now() - began
    if (ms > 5_000 || what.startsWith('boot')) timings.push(`${(ms / 1000).toFixed(0)} s  ${what}`)
    return result
  }
  t.teardown(async () => {
    if (timings.length > 0) t.comment(`rehearsal machine timings:\n${timings.join('\n')}`)
    await rehearseDown({ dir, output: quiet })
    // KEYSTONE_REHEARSAL_CONSOLE=<file> keeps the machine's whole console for a reader.
    const keep = process.env['KEYSTONE_REHEARSAL_CONSOLE']
    if (keep) await copyFile(machineFiles(dir).console, keep).catch(() => undefined)
    await rm(work, { recursive: true, force: true })
  })
  const up = await timed(
    'boot: installer, fresh machine',
    rehearseUp({
      dir,
      disks: options.disks ?? 1,
      diskSize: options.diskSize ?? '8G',
      authorizedKeysFile: `${keyFile}.pub`,
      output: quiet,
    }),
  )
  const ssh = () =>
    openSsh(
      { name: 'rehearsal', address: '127.0.0.1', port: up.config.sshPort, user: 'root' },
      { identityFile: keyFile },
      { pinned: loadRehearsalImage().manifest.sshHostKey },
      // An emulated guest beside other emulated guests can take longer than 20 s to answer.
      { readyTimeoutMs: 120_000 },
    )
  const sh = (command: string, stdin?: string | Uint8Array) =>
    timed(command.replace(/\s+/g, ' ').slice(0, 100), run(command, stdin))
  const run = async (command: string, stdin?: string | Uint8Array) => {
    const session = await ssh()
    try {
      const result = await session.run(command, {
        timeoutMs: 600_000,
        ...(stdin !== undefined && { stdin }),
      })
      if (result.code !== 0)
        throw new Error(
          `\`${command.slice(0, 200)}\` exited ${result.code}: ${result.stderr.trim().split('\n').slice(-5).join(' | ')}`,
        )
      return result.stdout
    } finally {
      await session.close()
    }
  }
  const files = machineFiles(dir)
  const powerOff = async () => {
    await sh('systemctl poweroff').catch(() => undefined)
    for (let waited = 0; isRunning(dir) && waited < 180_000; waited += 500)
      await new Promise((resolve) => setTimeout(resolve, 500))
    await stopMachine(dir)
  }
  const boot = async (mode: 'installer' | 'disks', passphrase?: string) => {
    const from = consoleLength(files.console)
    const typing =
      passphrase === undefined
        ? Promise.resolve()
        : waitForConsole(files.console, CREDSTORE_PROMPT, {
            from,
            timeoutMs: 300_000,
            what: 'the credstore’s prompt for its passphrase or recovery key',
          }).then(() => typeOnConsole(files.consoleSocket, `${passphrase}\n`))
    const started = rehearseUp({
      dir,
      boot: mode,
      authorizedKeysFile: `${keyFile}.pub`,
      output: quiet,
    })
    await timed(
      `boot: ${mode}${passphrase === undefined ? '' : ', passphrase typed'}`,
      Promise.all([started, typing]),
    ).catch((error: unknown) => {
      // What the machine printed says why: the last lines of its console, with the failure.
      const tail = consoleSinceBoot(from).split('\n').slice(-40).join('\n')
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}\n--- console ---\n${tail}`,
      )
    })
    return { console: consoleSinceBoot(from) }
  }
  const consoleSinceBoot = (from: number) =>
    readFileSync(files.console).subarray(from).toString('utf8')
  return {
    ...up,
    powerOff,
    boot,
    console: () => readFileSync(files.console, 'utf8'),
    keyFile,
    publicKey,
    work,
    ssh,
    sh,
    disks: up.config.disks.map((disk) => ({
      serial: disk.serial,
      path: `/dev/disk/by-id/virtio-${disk.serial}`,
    })),
  }
}

// A fleet of one host, `rehearsal`, describing the machine: its SSH port and pinned host key,
// the admin's key, and the given disks (by-id paths, or pinned { path, sizeBytes, serial }).
// Secure Boot is on unless `secureBoot: false` (a test that enrolls only the TPM); `first-boot`
// has systemd-boot enroll keys staged on the ESP. The TPM is on unless `tpm: false`.
export async function rehearsalFleet(
  machine: Rehearsal,
  disks: (string | { path: string; sizeBytes: number | null; serial: string | null })[],
  options: { secureBoot?: boolean | 'first-boot'; tpm?: boolean } = {},
): Promise<string> {
  const secureBoot = options.secureBoot ?? true
  await mkdir(machine.work, { recursive: true })
  const fleet = await mkdtemp(path.join(machine.work, 'fleet-'))
  await mkdir(path.join(fleet, 'hosts'))
  const diskLines = disks.map((disk) =>
    typeof disk === 'string'
      ? `    - ${disk}`
      : `    - path: ${disk.path}\n      sizeBytes: ${disk.sizeBytes ?? 'null'}\n      serial: ${disk.serial === null ? 'null' : JSON.stringify(disk.serial)}`,
  )
  await writeFile(
    path.join(fleet, 'hosts/rehearsal.yaml'),
    [
      '# The rehearsal machine: QEMU, OVMF in setup mode, swtpm, blank virtio disks.',
      'name: rehearsal',
      'system: x86_64-linux',
      'role: server',
      'hostId: "5eed0a11"',
      'ssh:',
      '  address: 127.0.0.1',
      `  port: ${machine.config.sshPort}`,
      '  user: root',
      `  hostKey: ${machine.hostKey}`,
      'admins:',
      '  - name: alice',
      '    sshKeys:',
      `      - ${machine.publicKey}`,
      'storage:',
      '  disks:',
      ...diskLines,
      '  swapSize: 1G',
      'secureBoot:',
      `  enable: ${secureBoot !== false}`,
      ...(secureBoot === 'first-boot' ? ['  keys: first-boot'] : []),
      'tpm:',
      `  enable: ${options.tpm ?? true}`,
      '  pcrs: [1, 7]',
      '',
    ].join('\n'),
  )
  return fleet
}

// The fleet's vault, initialised for admin alice (an identity made by the real age-keygen);
// `run` runs keystone in the fleet with her identity, `get` reads a secret.
export async function rehearsalVault(
  t: { teardown(fn: () => Promise<void>): void },
  fleet: string,
  work: string,
) {
  const config = await mkdtemp(path.join(tmpdir(), 'keystone-config-'))
  t.teardown(() => rm(config, { recursive: true, force: true }))
  const inFleet = (args: string[], options: { stdin?: string | Buffer } = {}) =>
    runKeystone(args, { cwd: fleet, config, ...options })
  const { key, get } = await initVault(inFleet, path.join(work, 'alice.key'))
  const run = (args: string[], stdin?: string) =>
    inFleet([...args, '--identity', key], stdin === undefined ? {} : { stdin })
  return { run, get, key }
}

export interface AppliedLayout {
  disko: NixValue
  layout: Layout
  passphrase: string
  zfsKey: Buffer
}

// `keystone generate` for the fleet's host, its disko.nix read back through nix-instantiate (and
// held to the generator's value), the key files placed where deploy places them
// (--disk-encryption-keys: umask 077, in RAM), and the layout created and mounted under /mnt.
export async function applyLayout(
  t: Test,
  machine: Rehearsal,
  fleet: string,
): Promise<AppliedLayout> {
  t.equal((await keystone(['generate', 'rehearsal', '--fleet', fleet])).code, 0, 'generated')
  const disko = (await nixEvalJson(path.join(fleet, 'hosts/rehearsal/disko.nix'))) as NixValue
  const [loaded] = await loadFleet(fleet)
  t.same(disko, renderDisko(loaded!.host), 'disko.nix evaluates to the value the generator wrote')
  const layout = planLayout(disko)
  const passphrase = (await generateValue('passphrase')).toString()
  const zfsKey = randomBytes(32)
  await machine.sh(
    'umask 077 && mkdir -p /run/keystone && cat > /run/keystone/credstore-passphrase',
    passphrase,
  )
  await machine.sh('umask 077 && base64 -d > /run/keystone/zfs-raw-key', zfsKey.toString('base64'))
  // A NixOS installer has ZFS loaded (boot.supportedFilesystems); the guest loads it here.
  await machine.sh('modprobe zfs')
  await machine.sh('bash -s', layoutScript(layout))
  return { disko, layout, passphrase, zfsKey }
}
