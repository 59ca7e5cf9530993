import { UserError } from '../errors.js'
import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'

// The credstore's LUKS2 header, read without unlocking it: which keyslots a TPM2 token, a
// recovery key or a plain passphrase open. systemd-cryptenroll records what it enrolls as LUKS2
// tokens (`systemd-tpm2` with `tpm2-pcrs`, `systemd-recovery`); a keyslot no token claims is a
// passphrase — the rule `--wipe-slot=password` applies (systemd-cryptenroll(1)).

export interface CredstoreStatus {
  tpm2: { pcrs: number[]; keyslot: string } | null
  recoveryKeyslot: string | null
  passwordKeyslots: string[]
}

// systemd-cryptenroll(1): --tpm2-pcrs takes a +-separated list of PCR indexes 0…23.
export const pcrList = (pcrs: readonly number[]) =>
  [...new Set(pcrs)].sort((a, b) => a - b).join('+')

// Why the header is not enrolled as wanted (a TPM2 token on exactly these PCRs, a recovery slot,
// no passphrase slot); empty when it is.
export function enrollmentProblems(status: CredstoreStatus, pcrs: readonly number[]): string[] {
  const problems: string[] = []
  if (status.tpm2 === null) problems.push(`no systemd-tpm2 token (expected PCRs ${pcrList(pcrs)})`)
  else if (pcrList(status.tpm2.pcrs) !== pcrList(pcrs))
    problems.push(`the TPM2 token is on PCRs ${pcrList(status.tpm2.pcrs)}, not ${pcrList(pcrs)}`)
  if (status.recoveryKeyslot === null) problems.push('no recovery key slot')
  if (status.passwordKeyslots.length > 0)
    problems.push(`passphrase keyslot ${status.passwordKeyslots.join(', ')} still there`)
  return problems
}

interface Luks2Token {
  type?: unknown
  keyslots?: unknown
  'tpm2-pcrs'?: unknown
}

const strings = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []

// Parses `cryptsetup luksDump --dump-json-metadata`; undefined when the text is not LUKS2 metadata.
export function parseCredstoreStatus(json: string): CredstoreStatus | undefined {
  let metadata: { keyslots?: unknown; tokens?: unknown }
  try {
    metadata = JSON.parse(json) as typeof metadata
  } catch {
    return undefined
  }
  if (typeof metadata?.keyslots !== 'object' || metadata.keyslots === null) return undefined
  const tokens = Object.values((metadata.tokens ?? {}) as Record<string, Luks2Token>)
  const tpm2 = tokens.find((token) => token.type === 'systemd-tpm2')
  const recovery = tokens.find((token) => token.type === 'systemd-recovery')
  const claimed = new Set(tokens.flatMap((token) => strings(token.keyslots)))
  const pcrs = Array.isArray(tpm2?.['tpm2-pcrs']) ? (tpm2['tpm2-pcrs'] as unknown[]) : []
  return {
    tpm2:
      tpm2 === undefined
        ? null
        : {
            pcrs: pcrs
              .filter((pcr): pcr is number => typeof pcr === 'number')
              .sort((a, b) => a - b),
            keyslot: strings(tpm2.keyslots)[0] ?? '',
          },
    recoveryKeyslot: recovery === undefined ? null : (strings(recovery.keyslots)[0] ?? null),
    passwordKeyslots: Object.keys(metadata.keyslots).filter((slot) => !claimed.has(slot)),
  }
}

export async function readCredstoreStatus(
  shell: RemoteShell,
  device: string,
): Promise<CredstoreStatus> {
  const result = await shell.run(`cryptsetup luksDump --dump-json-metadata ${shellQuote(device)}`)
  const status = result.code === 0 ? parseCredstoreStatus(result.stdout) : undefined
  if (status !== undefined) return status
  // cryptsetup says why in one line: "Device … does not exist or access denied.", "… is not a
  // valid LUKS device.", "Dump operation is not supported for this device type." (LUKS1).
  const reason =
    result.code === 0
      ? 'luksDump printed no LUKS2 metadata'
      : result.stderr.trim().split('\n').at(-1)?.trim() || `exit code ${result.code}`
  throw new UserError(`${device} on ${shell.description} is not a LUKS2 credstore: ${reason}`, {
    hint: 'enroll runs on the credstore `keystone deploy` made (/dev/zvol/<pool>/credstore); check storage.pool.name in the host file',
  })
}
