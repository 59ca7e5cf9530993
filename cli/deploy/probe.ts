import { UserError } from '../errors.js'
import { formatDiskSize, formatGiB } from '../ui/size.js'

// What the preflight probe (probe-script.ts) found on the target, typed and described.

export interface ProbedDisk {
  // The name in /dev/disk/by-id/; a disk usually has several (model_serial, wwn-, nvme-eui.).
  id: string
  // The kernel's name (`sda`, `nvme0n1`), which may change between boots.
  kname: string
  sizeBytes: number
  model: string
  serial: string
}

export interface Probe {
  // As `uname -m` prints it: x86_64, aarch64.
  arch: string
  memTotalKib: number
  memAvailableKib: number
  firmware: 'uefi' | 'bios'
  secureBoot: 'enabled' | 'disabled' | 'unknown'
  setupMode: 'yes' | 'no' | 'unknown'
  tpm: '2' | '1' | 'none'
  // ID= and VARIANT_ID= of os-release(5).
  osId: string
  osVariantId: string
  // Already running a NixOS installer: nixos-anywhere installs without kexec.
  installer: boolean
  // The name a Keystone host gives itself in /etc/keystone/host; '' on any other system.
  keystoneHost: string
  uid: number
  sudo: boolean
  disks: ProbedDisk[]
}

type Scalars = Omit<Probe, 'disks'>

const text = (value: string) => value
const count = (value: string) => (/^[0-9]+$/.test(value) ? Number(value) : undefined)
const oneOf =
  <T extends string>(...allowed: T[]) =>
  (value: string) =>
    allowed.includes(value as T) ? (value as T) : undefined
const yesNo = (value: string) => (value === 'yes' ? true : value === 'no' ? false : undefined)

// The line each field comes from, and how its value is read; `undefined` means a bad line.
const FIELDS: {
  [K in keyof Scalars]: [line: string, read: (value: string) => Scalars[K] | undefined]
} = {
  arch: ['arch', (value) => (value === '' ? undefined : value)],
  memTotalKib: ['mem_total_kib', count],
  memAvailableKib: ['mem_available_kib', count],
  firmware: ['firmware', oneOf('uefi', 'bios')],
  secureBoot: ['secure_boot', oneOf('enabled', 'disabled', 'unknown')],
  setupMode: ['setup_mode', oneOf('yes', 'no', 'unknown')],
  tpm: ['tpm', oneOf('2', '1', 'none')],
  osId: ['os_id', text],
  osVariantId: ['os_variant_id', text],
  installer: ['installer', yesNo],
  keystoneHost: ['keystone_host', text],
  uid: ['uid', count],
  sudo: ['sudo', yesNo],
}

function unreadable(target: string, detail: string): UserError {
  return new UserError(`the probe on ${target} returned output Keystone cannot read: ${detail}`, {
    hint: 'a login banner or a shell start-up file that prints text can cause this; keep non-interactive shells quiet',
  })
}

function parseDisk(value: string): ProbedDisk | undefined {
  const fields = value.split('\t')
  if (fields.length !== 5) return undefined
  const [id, kname, bytes, model, serial] = fields as [string, string, string, string, string]
  const sizeBytes = count(bytes)
  if (id === '' || kname === '' || sizeBytes === undefined) return undefined
  return { id, kname, sizeBytes, model, serial }
}

// Reads the script's `key=value` lines. Keys it does not know are skipped, so that a newer script
// may say more; `target` names the machine in the error.
export function parseProbe(output: string, target = 'the target'): Probe {
  const lines = new Map(
    Object.entries(FIELDS).map(([field, [line, read]]) => [line, { field, read }]),
  )
  const scalars: Record<string, unknown> = {}
  const disks: ProbedDisk[] = []
  for (const line of output.split('\n')) {
    if (line === '') continue
    const bad = () =>
      unreadable(target, `\`${line.length > 80 ? line.slice(0, 77) + '...' : line}\``)
    const match = /^([a-z_]+)=(.*)$/.exec(line)
    if (match === null) throw bad()
    const [, key, value] = match as unknown as [string, string, string]
    if (key === 'disk') {
      const disk = parseDisk(value)
      if (disk === undefined) throw bad()
      disks.push(disk)
      continue
    }
    const known = lines.get(key)
    if (known === undefined) continue
    const read = known.read(value)
    if (read === undefined) throw bad()
    scalars[known.field] = read
  }
  for (const [field, [line]] of Object.entries(FIELDS))
    if (!(field in scalars)) throw unreadable(target, `no \`${line}=\` line`)
  disks.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return { ...(scalars as unknown as Scalars), disks }
}

const gib = (kib: number) => formatGiB(kib * 1024)
const label = (name: string) => `${name}:`.padEnd(14)

function describeSystem(probe: Probe): string {
  const os = `${probe.osId || 'unknown'}${probe.osVariantId === '' ? '' : ` (${probe.osVariantId})`}`
  if (probe.keystoneHost !== '') return `Keystone host ${probe.keystoneHost}, ${os}`
  if (probe.installer) return `a NixOS installer, ${os}: installed without kexec`
  return `${os}: nixos-anywhere replaces it through kexec`
}

function describeSecureBoot(probe: Probe): string {
  if (probe.firmware === 'bios') return 'not available (BIOS boot)'
  const mode = { yes: 'in setup mode', no: 'not in setup mode', unknown: 'setup mode unknown' }
  return `${probe.secureBoot}, ${mode[probe.setupMode]}`
}

// The machine as the plan shows it, one fact per line.
export function describeProbe(probe: Probe): string[] {
  const tpm = { '2': 'TPM 2.0', '1': 'TPM 1.2 (Keystone needs 2.0)', none: 'none' }
  const login =
    probe.uid === 0
      ? 'root'
      : `uid ${probe.uid}, ${probe.sudo ? 'with' : 'without'} passwordless sudo`
  const disks = probe.disks.map(
    (disk) =>
      `${disk.id} (${disk.kname}): ${formatDiskSize(disk.sizeBytes)} (${disk.sizeBytes} bytes), ${disk.model || 'unknown model'}, serial ${disk.serial || 'unknown'}`,
  )
  return [
    `${label('architecture')}${probe.arch}`,
    `${label('memory')}${gib(probe.memAvailableKib)} available of ${gib(probe.memTotalKib)}`,
    `${label('firmware')}${probe.firmware === 'uefi' ? 'UEFI' : 'BIOS (legacy)'}`,
    `${label('Secure Boot')}${describeSecureBoot(probe)}`,
    `${label('TPM')}${tpm[probe.tpm]}`,
    `${label('system')}${describeSystem(probe)}`,
    `${label('login')}${login}`,
    ...(disks.length === 0 ? ['none in /dev/disk/by-id/'] : disks).map(
      (line, i) => `${i === 0 ? label('disks') : ' '.repeat(14)}${line}`,
    ),
  ]
}
