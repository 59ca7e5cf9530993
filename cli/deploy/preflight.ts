import path from 'node:path'
import { diskPath, pinnedFacts } from '../host/disks.js'
import type { Host } from '../host/host-schema.js'
import type { Probe } from './probe.js'
import { formatDiskSize, formatGiB } from '../ui/size.js'

// The preflight's verdict: every way the machine differs from its host file that would make the
// deploy fail half-way or wipe the wrong thing, one line each (expected, got, what to do). Pure:
// the probe already ran, nothing here touches the machine.

// nixos-anywhere docs/requirements.md: without a running installer, the kexec image needs at
// least 1.5 GB of RAM, swap excluded.
const KEXEC_MIN_KIB = 1.5 * 1024 * 1024

const ARCH: Record<Host['system'], string> = {
  'x86_64-linux': 'x86_64',
  'aarch64-linux': 'aarch64',
}

// A machine already running a NixOS installer is installed from directly: nixos-anywhere's
// runKexec returns early when src/get-facts.sh reported isInstaller (src/nixos-anywhere.sh).
export const needsKexec = (probe: Probe): boolean => !probe.installer

const gib = (kib: number) => formatGiB(kib * 1024)
const bytes = (n: number) => `${formatDiskSize(n)} (${n} bytes)`

export function checkPreflight(
  host: Host,
  probe: Probe,
  options: { kexec: boolean } = { kexec: needsKexec(probe) },
): string[] {
  const file = `hosts/${host.name}.yaml`
  const refusals: string[] = []

  if (probe.arch !== ARCH[host.system]) {
    const system = Object.entries(ARCH).find(([, arch]) => arch === probe.arch)?.[0]
    refusals.push(
      `architecture: ${file} says system: ${host.system}, the machine is ${probe.arch}; ${system === undefined ? 'Keystone installs x86_64 and aarch64 machines only' : `set system: ${system}, or check ssh.address`}`,
    )
  }
  if (probe.firmware !== 'uefi')
    refusals.push(
      'firmware: the machine boots in BIOS (legacy) mode, Keystone needs UEFI (systemd-boot or Lanzaboote on an EFI system partition); switch the firmware to UEFI boot (CSM off) and boot the machine again',
    )
  if (host.tpm.enable && probe.tpm !== '2')
    refusals.push(
      `TPM: ${file} has tpm.enable: true, the machine has ${probe.tpm === 'none' ? 'no TPM' : 'a TPM 1.2'}; turn on the TPM 2.0 in the firmware, or set tpm.enable: false in ${file} and use remote unlock (remoteUnlock.enable: true)`,
    )
  if (options.kexec && probe.memAvailableKib < KEXEC_MIN_KIB)
    refusals.push(
      `memory: the kexec installer needs 1.5 GiB available (swap excluded), the machine has ${gib(probe.memAvailableKib)}; boot the machine from the Keystone installer ISO, which needs no kexec`,
    )
  if (probe.keystoneHost !== '' && probe.keystoneHost !== host.name)
    refusals.push(
      `identity: the machine at ${host.ssh.address} is Keystone host ${probe.keystoneHost}, not ${host.name}; the address is wrong — check ssh.address in ${file}`,
    )
  if (probe.uid !== 0 && !probe.sudo)
    refusals.push(
      `login: ${host.ssh.user} (uid ${probe.uid}) is not root and has no passwordless sudo; set ssh.user: root in ${file}, or allow ${host.ssh.user} passwordless sudo on the machine`,
    )
  return [...refusals, ...checkDisks(host, probe, file)]
}

function checkDisks(host: Host, probe: Probe, file: string): string[] {
  const refusals: string[] = []
  const available = probe.disks.map((disk) => disk.id).join(', ') || 'none'
  // Replaced on purpose: dropping the pinned facts lets the next deploy pin the new disk.
  const replaced = (where: string) =>
    `if the disk was replaced on purpose, write ${where} as its path alone in ${file}; otherwise the address reaches another machine`
  for (const entry of host.storage.disks) {
    const where = diskPath(entry)
    const disk = probe.disks.find((candidate) => candidate.id === path.basename(where))
    if (disk === undefined) {
      refusals.push(
        `disk ${where}: not on the machine, which has ${available}; list one of these in storage.disks of ${file}`,
      )
      continue
    }
    const pinned = pinnedFacts(entry)
    if (pinned.sizeBytes !== null && pinned.sizeBytes !== disk.sizeBytes)
      refusals.push(
        `disk ${where}: ${file} pins a size of ${bytes(pinned.sizeBytes)}, the machine's is ${bytes(disk.sizeBytes)}; ${replaced('it')}`,
      )
    if (pinned.serial !== null && pinned.serial !== disk.serial)
      refusals.push(
        `disk ${where}: ${file} pins serial ${pinned.serial}, the machine's has serial ${disk.serial || '(none)'}; ${replaced('it')}`,
      )
  }
  return refusals
}
