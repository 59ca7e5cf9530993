// OpenSSH public key lines (`<type> <base64> [comment]`), checked the way sshd reads them: the
// base64 blob is a sequence of length-prefixed strings (RFC 4253 §6.6) that starts with the key
// type and holds exactly the fields of that type, so a key cut short is caught whatever its type.

// Fields after the type string: RSA e and n (RFC 4253 §6.6), ECDSA curve and point (RFC 5656
// §3.1), the Ed25519 point (RFC 8709 §4); security keys add the application (OpenSSH PROTOCOL.u2f).
const FIELDS = {
  'ssh-ed25519': 1,
  'ssh-rsa': 2,
  'ecdsa-sha2-nistp256': 2,
  'ecdsa-sha2-nistp384': 2,
  'ecdsa-sha2-nistp521': 2,
  'sk-ssh-ed25519@openssh.com': 2,
  'sk-ecdsa-sha2-nistp256@openssh.com': 3,
} as const

export const SSH_KEY_TYPES = Object.keys(FIELDS) as (keyof typeof FIELDS)[]

// `privateKey`: the line must not be echoed back, not even in part.
export type SshKeyCheck = { ok: true; type: string } | { ok: false; reason: string; privateKey?: true }

const CUT_SHORT = 'the key data is cut short (copied only part of it?)'

export function checkSshPublicKey(line: string): SshKeyCheck {
  const text = line.trim()
  // PEM and OpenSSH private keys, and PuTTY's .ppk: what people paste instead of the .pub file.
  if (/^-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(text) || text.startsWith('PuTTY-User-Key-File')) {
    return { ok: false, reason: 'this is a private key', privateKey: true }
  }
  if (text.startsWith('---- BEGIN SSH2 PUBLIC KEY ----')) {
    return { ok: false, reason: 'this is an RFC 4716 public key; convert it with `ssh-keygen -i -f <file>`' }
  }
  if (text.startsWith('-----BEGIN ')) {
    return { ok: false, reason: 'this is a PEM key; convert it with `ssh-keygen -i -m PKCS8 -f <file>`' }
  }
  const [type, blob] = text.split(/\s+/)
  if (type === undefined || type === '' || blob === undefined) {
    return { ok: false, reason: 'expected `<type> <base64> [comment]`' }
  }
  if (!Object.hasOwn(FIELDS, type)) return { ok: false, reason: `unknown key type \`${type}\`` }
  const stray = /[^A-Za-z0-9+/=]/.exec(blob)
  if (stray !== null) return { ok: false, reason: `the key data contains \`${stray[0]}\`, which is not base64` }
  // Base64 comes in groups of 4; a blob that is not was cut short, or split by a space.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) {
    return { ok: false, reason: 'the key data is not valid base64 (cut short, or split by a space?)' }
  }
  const strings = readStrings(Buffer.from(blob, 'base64'))
  if (strings === undefined || strings.length === 0) return { ok: false, reason: CUT_SHORT }
  const embedded = strings[0]!.toString('latin1')
  if (embedded !== type) {
    return { ok: false, reason: `the key data is a \`${embedded.slice(0, 40)}\` key, not \`${type}\`` }
  }
  if (strings.length !== 1 + FIELDS[type as keyof typeof FIELDS]) return { ok: false, reason: CUT_SHORT }
  if (type.endsWith('ed25519') && strings[1]!.length !== 32) return { ok: false, reason: CUT_SHORT }
  const curve = /nistp[0-9]+/.exec(type)?.[0]
  if (curve !== undefined && strings[1]!.toString('latin1') !== curve) {
    return { ok: false, reason: `the key data is for the curve \`${strings[1]!.toString('latin1').slice(0, 20)}\`, not ${curve}` }
  }
  return { ok: true, type }
}

// The length-prefixed strings of a key blob, or undefined when the last one runs past the end.
function readStrings(bytes: Buffer): Buffer[] | undefined {
  const strings: Buffer[] = []
  let at = 0
  while (at < bytes.length) {
    if (bytes.length - at < 4) return undefined
    const length = bytes.readUInt32BE(at)
    if (length > bytes.length - at - 4) return undefined
    strings.push(bytes.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  return strings
}
