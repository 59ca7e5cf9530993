import { UserError } from '../errors.js'
import type { RemoteShell } from './remote-shell.js'
import { shellQuote } from './render-plan.js'

// The credstore's LUKS2 header, read without unlocking it (cryptsetup luksDump
// --dump-json-metadata): which keyslots a TPM2 token, a recovery key or a plain password open.

export interface CredstoreStatus {
  tpm2: { pcrs: number[]; keyslot: string } | null
  recoveryKeyslot: string | null
  passwordKeyslots: string[]
}

interface Luks2Metadata {
  keyslots: Record<string, unknown>
  tokens: Record<string, { type: string; keyslots: string[]; 'tpm2-pcrs'?: number[] }>
}

export function parseCredstoreStatus(json: string): CredstoreStatus {
  const metadata = JSON.parse(json) as Luks2Metadata
  const tokens = Object.values(metadata.tokens ?? {})
  const tpm2 = tokens.find((token) => token.type === 'systemd-tpm2')
  const recovery = tokens.find((token) => token.type === 'systemd-recovery')
  const byToken = new Set(tokens.flatMap((token) => token.keyslots))
  return {
    tpm2: tpm2 === undefined ? null : { pcrs: [...(tpm2['tpm2-pcrs'] ?? [])].sort((a, b) => a - b), keyslot: tpm2.keyslots[0] ?? '' },
    recoveryKeyslot: recovery?.keyslots[0] ?? null,
    passwordKeyslots: Object.keys(metadata.keyslots ?? {}).filter((slot) => !byToken.has(slot)),
  }
}

export async function readCredstoreStatus(shell: RemoteShell, device: string): Promise<CredstoreStatus> {
  const result = await shell.run(`cryptsetup luksDump --dump-json-metadata ${shellQuote(device)}`)
  if (result.code !== 0)
    throw new UserError(`${device} on ${shell.description} is not a LUKS2 credstore: ${result.stderr.trim().split('\n').at(-1) ?? ''}`, {
      hint: 'enroll runs after `keystone deploy` installed the host; check storage.pool.name in the host file',
    })
  return parseCredstoreStatus(result.stdout)
}
