import { UserError } from '../errors.js'
import { formatBytes } from './render-plan.js'

// What the preflight probe (probe-script.ts) found on the target, typed.

export interface ProbedDisk {
  // The /dev/disk/by-id/ name.
  id: string
  kname: string
  sizeBytes: number
  model: string
  serial: string
}

export interface Probe {
  arch: string
  memTotalKib: number
  memAvailableKib: number
  firmware: 'uefi' | 'bios'
  secureBoot: 'enabled' | 'disabled' | 'unknown'
  setupMode: 'yes' | 'no' | 'unknown'
  tpm: '2' | '1' | 'none'
  osId: string
  osVariantId: string
  installer: boolean
  keystoneHost: string
  uid: number
  sudo: boolean
  disks: ProbedDisk[]
}

const oneOf = <T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T => (allowed.includes(value as T) ? (value as T) : fallback)

export function parseProbe(output: string, target = 'the target'): Probe {
  const values = new Map<string, string>()
  const disks: ProbedDisk[] = []
  for (const line of output.split('\n')) {
    if (line === '') continue
    const at = line.indexOf('=')
    if (at <= 0)
      throw new UserError(
        `the probe on ${target} returned output Keystone cannot read: \`${line.slice(0, 80)}\``,
        {
          hint: 'a login banner or shell start-up file that prints text can cause this; keep non-interactive shells quiet',
        },
      )
    const key = line.slice(0, at)
    const value = line.slice(at + 1)
    if (key !== 'disk') {
      values.set(key, value)
      continue
    }
    const [id, kname, bytes, model, serial] = value.split('\t')
    if (id === undefined || kname === undefined || !/^[0-9]+$/.test(bytes ?? ''))
      throw new UserError(
        `the probe on ${target} returned a disk line Keystone cannot read: \`${value.slice(0, 80)}\``,
      )
    disks.push({ id, kname, sizeBytes: Number(bytes), model: model ?? '', serial: serial ?? '' })
  }
  const number = (key: string) => Number(values.get(key) ?? '0') || 0
  if (!values.has('arch'))
    throw new UserError(`the probe on ${target} returned no facts`, {
      hint: 'is /bin/sh on the target a POSIX shell?',
    })
  return {
    arch: values.get('arch') ?? '',
    memTotalKib: number('mem_total_kib'),
    memAvailableKib: number('mem_available_kib'),
    firmware: oneOf(values.get('firmware'), ['uefi', 'bios'], 'bios'),
    secureBoot: oneOf(values.get('secure_boot'), ['enabled', 'disabled', 'unknown'], 'unknown'),
    setupMode: oneOf(values.get('setup_mode'), ['yes', 'no', 'unknown'], 'unknown'),
    tpm: oneOf(values.get('tpm'), ['2', '1', 'none'], 'none'),
    osId: values.get('os_id') ?? '',
    osVariantId: values.get('os_variant_id') ?? '',
    installer: values.get('installer') === 'yes',
    keystoneHost: values.get('keystone_host') ?? '',
    uid: number('uid'),
    sudo: values.get('sudo') === 'yes',
    disks: disks.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
  }
}

const gib = (kib: number) => `${(kib / 1024 / 1024).toFixed(1)} GiB`

export function describeProbe(probe: Probe): string[] {
  const system = probe.installer
    ? 'a NixOS installer (no kexec needed)'
    : probe.keystoneHost !== ''
      ? `Keystone host ${probe.keystoneHost}`
      : `${probe.osId || 'an unknown OS'}${probe.osVariantId === '' ? '' : ` (${probe.osVariantId})`}`
  return [
    `system:      ${system}, ${probe.arch}`,
    `memory:      ${gib(probe.memAvailableKib)} available of ${gib(probe.memTotalKib)}`,
    `firmware:    ${probe.firmware === 'uefi' ? 'UEFI' : 'BIOS (legacy)'}${probe.firmware === 'uefi' ? `, Secure Boot ${probe.secureBoot}${probe.setupMode === 'yes' ? ', in setup mode' : ''}` : ''}`,
    `TPM:         ${probe.tpm === 'none' ? 'none' : `TPM ${probe.tpm === '2' ? '2.0' : '1.2'}`}`,
    `login:       ${probe.uid === 0 ? 'root' : probe.sudo ? 'a user with passwordless sudo' : 'a user without sudo'}`,
    ...probe.disks.map(
      (disk, i) =>
        `${i === 0 ? 'disks:       ' : '             '}${disk.id} (${disk.kname}): ${formatBytes(disk.sizeBytes)}, ${disk.model || 'unknown model'}, serial ${disk.serial || 'unknown'}`,
    ),
  ]
}
