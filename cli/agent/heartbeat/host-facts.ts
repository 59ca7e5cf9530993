import { existsSync, readFileSync, statfsSync } from 'node:fs'
import path from 'node:path'
import type { HostReport } from '../../records/heartbeat.js'

// What a host can say about its own boot security and disk, read from the kernel's files
// (under `root`, `/` on a host): the UEFI variables SecureBoot and SetupMode (4 bytes of
// attributes, then the value: 1 is on), the TPM's PCR values in the SHA-256 bank
// (/sys/class/tpm/tpm0/pcr-sha256/<n>, Linux ≥ 5.12, uppercase hex), free space from statfs.
const EFI_GLOBAL = '8be4df61-93ca-11d2-aa0d-00e098032b8c'

function efiFlag(root: string, name: string): boolean | undefined {
  try {
    const bytes = readFileSync(path.join(root, 'sys/firmware/efi/efivars', `${name}-${EFI_GLOBAL}`))
    return bytes.length >= 5 ? bytes[4] === 1 : undefined
  } catch {
    return undefined
  }
}

export function secureBootState(root = '/'): HostReport['secureBoot'] {
  if (!existsSync(path.join(root, 'sys/firmware/efi'))) return 'no-uefi'
  if (efiFlag(root, 'SetupMode') === true) return 'setup-mode'
  const on = efiFlag(root, 'SecureBoot')
  return on === undefined ? 'unknown' : on ? 'enabled' : 'disabled'
}

export function tpmState(pcrs: readonly number[], root = '/'): HostReport['tpm'] {
  const dir = path.join(root, 'sys/class/tpm/tpm0')
  if (!existsSync(dir)) return { present: false, pcrs: {} }
  const values: Record<string, string> = {}
  for (const pcr of pcrs) {
    try {
      const hex = readFileSync(path.join(dir, 'pcr-sha256', String(pcr)), 'utf8').trim()
      if (/^[0-9A-Fa-f]{64}$/.test(hex)) values[String(pcr)] = hex.toLowerCase()
    } catch {
      // an older kernel without pcr-sha256: present, values unknown
    }
  }
  return { present: true, pcrs: values }
}

export function freeBytes(dir: string): number | undefined {
  try {
    const s = statfsSync(dir)
    return s.bavail * s.bsize
  } catch {
    return undefined
  }
}
