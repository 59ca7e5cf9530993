import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { cacheDir } from '../config.js'
import { fingerprintOf, parsePublicKeyLine } from '../deploy/host-key.js'
import { UserError } from '../errors.js'
import { processOutput, type Output } from '../ui/output.js'
import { seconds } from '../ui/phase-progress.js'
import { detectAccel, guestCpus, isRunning, startMachine, stopMachine } from './machine.js'
import { DEBIAN_OVMF, machineFiles, type MachineSpec, type RehearsalDisk } from './plan-machine.js'
import { loadRehearsalImage } from './rehearsal-image.js'

// `keystone rehearse up|down`: the rehearsal machine an admin runs plan, enroll and the boot
// chain against before touching real hardware. A machine keeps its disks, firmware variables and
// TPM between runs (in its directory, machine.json says how it was made) until `down --discard`.

export interface MachineConfig {
  sshPort: number
  memoryMiB: number
  cpus: number
  disks: RehearsalDisk[]
}

export interface UpOptions {
  dir?: string
  disks?: number
  diskSize?: string
  memoryMiB?: number
  sshPort?: number
  // The admin's public key(s), authorized for root in the guest.
  authorizedKeysFile?: string
  boot?: MachineSpec['boot']
  timeoutMs?: number
  output?: Output
}

export interface UpResult {
  dir: string
  config: MachineConfig
  hostKey: string
  accel: 'kvm' | 'tcg'
  bootMs: number
}

export const defaultMachineDir = () => path.join(cacheDir(), 'rehearsal', 'machines', 'default')

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

// sshd's identification string (RFC 4253 §4.2). QEMU's user network accepts a forwarded
// connection before the guest listens, so a connection alone proves nothing.
const sshBanner = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(3_000, () => done(false))
    socket.once('data', (data) => done(data.toString('latin1').startsWith('SSH-2.0-')))
    socket.once('error', () => done(false))
    socket.once('close', () => done(false))
  })

function readConfig(dir: string): MachineConfig | undefined {
  const file = path.join(dir, 'machine.json')
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as MachineConfig) : undefined
}

function authorizedKeys(file: string | undefined): string {
  const candidates =
    file !== undefined
      ? [file]
      : ['id_ed25519.pub', 'id_ecdsa.pub', 'id_rsa.pub'].map((name) =>
          path.join(os.homedir(), '.ssh', name),
        )
  const found = candidates.find((candidate) => existsSync(candidate))
  if (found === undefined)
    throw new UserError('no SSH public key to authorize on the rehearsal machine', {
      hint: 'pass --authorized-key <file.pub> (the key you log in to your hosts with)',
    })
  const text = readFileSync(found, 'utf8')
  for (const line of text.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('#')))
    parsePublicKeyLine(line, found)
  return text.endsWith('\n') ? text : text + '\n'
}

export async function rehearseUp(options: UpOptions = {}): Promise<UpResult> {
  const out = options.output ?? processOutput
  const dir = path.resolve(options.dir ?? defaultMachineDir())
  const image = loadRehearsalImage()
  const keys = authorizedKeys(options.authorizedKeysFile)
  const kept = readConfig(dir)
  const accel = detectAccel()
  const config: MachineConfig = kept ?? {
    sshPort: options.sshPort ?? (await freePort()),
    memoryMiB: options.memoryMiB ?? 3072,
    cpus: guestCpus(accel, os.availableParallelism()),
    // Serial numbers of their own per machine, as two machines' disks never share one.
    disks: Array.from({ length: options.disks ?? 1 }, (_, index) => ({
      serial: `KS${randomBytes(4).toString('hex').toUpperCase()}${index}`,
      size: options.diskSize ?? '16G',
    })),
  }
  const began = Date.now()
  await startMachine(
    {
      dir,
      image,
      disks: config.disks,
      sshPort: config.sshPort,
      memoryMiB: config.memoryMiB,
      cpus: config.cpus,
      accel,
      boot: options.boot ?? 'installer',
      firmware: DEBIAN_OVMF,
    },
    keys,
  )
  if (kept === undefined)
    await writeFile(path.join(dir, 'machine.json'), JSON.stringify(config, null, 2) + '\n')
  const timeoutMs = options.timeoutMs ?? 300_000
  while (!(await sshBanner(config.sshPort))) {
    if (!isRunning(dir))
      throw new UserError('the rehearsal machine stopped while booting', {
        hint: `its console is in ${machineFiles(dir).console}`,
      })
    if (Date.now() - began > timeoutMs) {
      await stopMachine(dir)
      throw new UserError(
        `the rehearsal machine's sshd did not answer within ${seconds(timeoutMs)}`,
        {
          hint: `it was stopped; its console is in ${machineFiles(dir).console}`,
        },
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000))
  }
  const bootMs = Date.now() - began
  const hostKey = image.manifest.sshHostKey
  const result = { dir, config, hostKey, accel, bootMs }
  for (const line of describeMachine(result)) out.out(line)
  return result
}

export function describeMachine(up: UpResult): string[] {
  const { config } = up
  return [
    `rehearsal machine up in ${seconds(up.bootMs)} (${up.accel === 'kvm' ? 'KVM' : 'TCG: no KVM here, emulated'}): ssh -p ${config.sshPort} root@127.0.0.1`,
    `  firmware:  OVMF with Secure Boot, variables in setup mode; TPM 2.0: swtpm`,
    `  host key:  ${up.hostKey} (${fingerprintOf(parsePublicKeyLine(up.hostKey))})`,
    ...config.disks.map(
      (disk) =>
        `  disk:      /dev/disk/by-id/virtio-${disk.serial} (${disk.size}, serial ${disk.serial})`,
    ),
    `  console:   ${machineFiles(up.dir).console}`,
    '',
    'In its host file:',
    `  ssh: { address: 127.0.0.1, port: ${config.sshPort}, user: root, hostKey: ${up.hostKey} }`,
    `  storage: { disks: [${config.disks.map((disk) => `/dev/disk/by-id/virtio-${disk.serial}`).join(', ')}] }`,
    '',
    'Stop it with `keystone rehearse down` (its disks, firmware variables and TPM are kept; `--discard` drops them).',
  ]
}

export async function rehearseDown(
  options: { dir?: string; discard?: boolean; output?: Output } = {},
): Promise<void> {
  const out = options.output ?? processOutput
  const dir = path.resolve(options.dir ?? defaultMachineDir())
  const wasRunning = isRunning(dir)
  await stopMachine(dir)
  if (options.discard === true) await rm(dir, { recursive: true, force: true })
  out.out(
    `${wasRunning ? 'stopped the rehearsal machine' : 'no rehearsal machine was running'} in ${dir}${options.discard === true ? '; its disks, variables and TPM are gone' : ''}`,
  )
}
