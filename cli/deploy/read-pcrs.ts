import { UserError } from '../errors.js'
import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'

// The SHA-256 values of the PCRs the credstore is bound to, as they are now: recorded at enroll
// so that fleet status can tell when the firmware or the boot chain changed.

// Where they are read, explicitly: with `--tpm2-device=auto` the host's own TPM, whose PCRs the
// kernel exposes as /sys/class/tpm/tpm0/pcr-sha256/<n> (uppercase hex, Linux ≥ 5.12,
// Documentation/ABI/stable/sysfs-class-tpm); a TPM named by a TCTI (swtpm in tests) through
// tpm2_pcrread -T, which prints `  7 : 0x<HEX>` under `sha256:`.
export function pcrReadCommand(pcrs: readonly number[], tpm2Device: string): string {
  if (!pcrs.every((n) => Number.isInteger(n) && n >= 0 && n <= 23))
    throw new UserError(`tpm.pcrs: expected PCR indexes 0–23, got [${pcrs.join(', ')}]`)
  return tpm2Device === 'auto'
    ? `cd /sys/class/tpm/tpm0/pcr-sha256 && grep -H . ${pcrs.join(' ')}`
    : `tpm2_pcrread -T ${shellQuote(tpm2Device)} sha256:${pcrs.join(',')}`
}

// Both forms, `7:ABCD…` (grep -H) and `  7 : 0xABCD…` (tpm2_pcrread), to lowercase hex by index.
export function parsePcrValues(text: string): Record<number, string> {
  const values: Record<number, string> = {}
  for (const match of text.matchAll(/^\s*(\d{1,2})\s*:\s*(?:0x)?([0-9A-Fa-f]{64})\s*$/gm))
    values[Number(match[1])] = match[2]!.toLowerCase()
  return values
}

export async function readPcrs(
  shell: RemoteShell,
  pcrs: readonly number[],
  tpm2Device: string,
): Promise<Record<number, string>> {
  const result = await shell.run(pcrReadCommand(pcrs, tpm2Device), { timeoutMs: 30_000 })
  const values = parsePcrValues(result.stdout)
  const missing = pcrs.filter((n) => values[n] === undefined)
  if (result.code !== 0 || missing.length > 0)
    throw new UserError(
      `cannot read PCR ${missing.join('+') || pcrs.join('+')} (sha256) on ${shell.description}: ${result.stderr.trim().split('\n').at(-1)?.trim() || 'no value printed'}`,
      {
        hint:
          tpm2Device === 'auto'
            ? 'the TPM 2.0 must be enabled in the firmware; the kernel exposes /sys/class/tpm/tpm0/pcr-sha256 from Linux 5.12'
            : `tpm2_pcrread could not read them through --tpm2-device=${tpm2Device}`,
      },
    )
  return Object.fromEntries(pcrs.map((n) => [n, values[n]!]))
}
