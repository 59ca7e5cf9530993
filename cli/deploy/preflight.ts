import path from 'node:path'
import type { Host } from '../host/host-schema.js'
import type { Probe } from './probe.js'
import { formatBytes } from './render-plan.js'

// The preflight's verdict: every way the machine differs from its host file that would make the
// deploy fail half-way or wipe the wrong thing, one line each (expected, got, what to do).

// nixos-anywhere docs/requirements.md: the kexec installer needs ≥ 1.5 GB of RAM without swap.
const KEXEC_MIN_KIB = 1.5 * 1024 * 1024

const ARCH: Record<Host['system'], string> = {
  'x86_64-linux': 'x86_64',
  'aarch64-linux': 'aarch64',
}

// A machine already running a NixOS installer is installed from directly.
export const needsKexec = (probe: Probe) => !probe.installer

export function checkPreflight(host: Host, probe: Probe, options: { kexec: boolean }): string[] {
  const file = `hosts/${host.name}.yaml`
  const refusals: string[] = []
  if (probe.arch !== ARCH[host.system])
    refusals.push(
      `architecture: ${file} says ${host.system}, the machine is ${probe.arch}; fix \`system:\``,
    )
  if (probe.firmware !== 'uefi')
    refusals.push(
      'firmware: the machine boots in BIOS (legacy) mode, Keystone needs UEFI (systemd-boot, Lanzaboote, an ESP); switch the firmware to UEFI boot',
    )
  if (host.tpm.enable && probe.tpm !== '2')
    refusals.push(
      `TPM: ${file} wants TPM unlock, the machine has ${probe.tpm === 'none' ? 'no TPM' : 'a TPM 1.2'}; enable the TPM 2.0 in the firmware, or set \`tpm.enable: false\` (and \`remoteUnlock.enable: true\`)`,
    )
  if (options.kexec && probe.memAvailableKib < KEXEC_MIN_KIB)
    refusals.push(
      `memory: the kexec installer needs 1.5 GiB available, the machine has ${(probe.memAvailableKib / 1024 / 1024).toFixed(1)} GiB; boot the Keystone installer ISO instead`,
    )
  if (probe.keystoneHost !== '' && probe.keystoneHost !== host.name)
    refusals.push(
      `identity: the machine at ${host.ssh.address} is Keystone host ${probe.keystoneHost}, not ${host.name}; check ssh.address in ${file}`,
    )
  if (probe.uid !== 0 && !probe.sudo)
    refusals.push(
      `login: ${host.ssh.user} is neither root nor allowed passwordless sudo; log in as root (ssh.user: root) or grant sudo`,
    )

  const available = probe.disks.map((disk) => disk.id).join(', ') || 'none'
  for (const diskPath of host.storage.disks) {
    const id = path.basename(diskPath)
    const disk = probe.disks.find((candidate) => candidate.id === id)
    if (disk === undefined) {
      refusals.push(`disk ${diskPath} is not on the machine; it has: ${available}`)
      continue
    }
    const pinned = host.storage.pinnedDisks.find((entry) => entry.path === diskPath)
    if (pinned !== undefined && pinned.sizeBytes !== disk.sizeBytes)
      refusals.push(
        `disk ${diskPath}: ${file} pins ${formatBytes(pinned.sizeBytes)} (${pinned.sizeBytes} bytes), the machine's is ${formatBytes(disk.sizeBytes)} (${disk.sizeBytes} bytes); a different disk has this name`,
      )
    if (pinned !== undefined && pinned.serial !== disk.serial)
      refusals.push(
        `disk ${diskPath}: ${file} pins serial ${pinned.serial}, the machine's disk has serial ${disk.serial || 'none'}; if the disk was replaced on purpose, remove its entry from storage.pinnedDisks`,
      )
  }
  return refusals
}
