// OpenSSH public key lines (`<type> <base64> [comment]`), checked the way sshd reads them: the
// base64 blob must decode and start with the same key type (RFC 4253 §6.6 string encoding).
export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const

export type SshKeyCheck = { ok: true; type: string } | { ok: false; reason: string }

export function checkSshPublicKey(line: string): SshKeyCheck {
  const fields = line.trim().split(/\s+/)
  const [type, blob] = fields
  if (type === undefined || type === '' || blob === undefined) {
    return { ok: false, reason: 'expected `<type> <base64> [comment]`' }
  }
  if (!(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    if (type.startsWith('-----BEGIN')) return { ok: false, reason: 'this is a private key, never put it in a host file' }
    return { ok: false, reason: `unknown key type \`${type}\`` }
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) {
    return { ok: false, reason: 'the key data is not base64' }
  }
  const bytes = Buffer.from(blob, 'base64')
  if (bytes.length < 4) return { ok: false, reason: 'the key data is truncated' }
  const nameLength = bytes.readUInt32BE(0)
  if (nameLength > bytes.length - 4) return { ok: false, reason: 'the key data is truncated' }
  const embedded = bytes.subarray(4, 4 + nameLength).toString('latin1')
  if (embedded !== type) {
    return { ok: false, reason: `the key data is a \`${embedded.slice(0, 40)}\` key, not \`${type}\`` }
  }
  // An Ed25519 blob is exactly the type string and a 32-byte point (RFC 8709 §4).
  if (type === 'ssh-ed25519' && bytes.length !== 4 + nameLength + 4 + 32) {
    return { ok: false, reason: 'the Ed25519 key data has the wrong length (copied only part of it?)' }
  }
  return { ok: true, type }
}
