import { UserError } from '../errors.js'
import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'

// The current SHA-256 PCR values the credstore is bound to, recorded at enroll so that fleet
// status can tell when firmware or boot chain changed. On a host the kernel exposes them
// (/sys/class/tpm/tpm0/pcr-sha256/<n>, Linux ≥ 5.12); a TPM reached through a TCTI (swtpm in
// tests) is read with tpm2_pcrread.
export async function readPcrs(shell: RemoteShell, pcrs: readonly number[], tpm2Device: string): Promise<Record<string, string>> {
  const command =
    tpm2Device === 'auto'
      ? pcrs.map((n) => `printf '%s : 0x%s\\n' ${n} "$(cat /sys/class/tpm/tpm0/pcr-sha256/${n})"`).join('; ')
      : `tpm2_pcrread -T ${shellQuote(tpm2Device)} sha256:${pcrs.join(',')}`
  const result = await shell.run(command)
  const values: Record<string, string> = {}
  for (const match of result.stdout.matchAll(/^\s*(\d+)\s*:\s*0x([0-9A-Fa-f]{64})\s*$/gm)) values[match[1]!] = match[2]!.toLowerCase()
  if (result.code !== 0 || pcrs.some((n) => values[String(n)] === undefined))
    throw new UserError(`cannot read PCRs ${pcrs.join('+')} on ${shell.description}`, {
      hint: 'the TPM must be enabled and the kernel must expose /sys/class/tpm/tpm0/pcr-sha256',
    })
  return values
}
