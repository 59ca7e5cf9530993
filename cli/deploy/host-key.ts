import { createHash } from 'node:crypto'
import { UserError } from '../errors.js'

// SSH public keys as the pinning needs them: the OpenSSH line in the host file, the raw blob a
// server presents, and the fingerprint an admin compares on the console (ssh-keygen -lf).

export interface PublicKey {
  type: string
  blob: Buffer
  // `<type> <base64>`, without a comment.
  line: string
}

// RFC 4253 §6.6: a public key blob starts with its type as an SSH string (uint32 length + bytes).
function typeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined
  const length = blob.readUInt32BE(0)
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined
  return blob.subarray(4, 4 + length).toString('latin1')
}

export function publicKeyOfBlob(blob: Buffer): PublicKey {
  const type = typeOfBlob(blob)
  if (type === undefined) throw new UserError('the SSH host key the server presented is malformed')
  return { type, blob, line: `${type} ${blob.toString('base64')}` }
}

export function parsePublicKeyLine(line: string): PublicKey {
  const [type, data] = line.trim().split(/\s+/)
  const blob = Buffer.from(data ?? '', 'base64')
  if (type === undefined || data === undefined || typeOfBlob(blob) !== type)
    throw new UserError(`\`${line.slice(0, 40)}…\` is not an OpenSSH public key line`, {
      hint: 'copy the whole line of /etc/ssh/ssh_host_ed25519_key.pub: `ssh-ed25519 AAAA…`',
    })
  return { type, blob, line: `${type} ${data}` }
}

// ssh-keygen -l: SHA256 of the blob, base64 without padding.
export function fingerprintOf(key: PublicKey | Buffer): string {
  const blob = Buffer.isBuffer(key) ? key : key.blob
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}
