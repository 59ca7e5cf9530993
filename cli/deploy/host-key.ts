import { createHash } from 'node:crypto'
import { UserError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'

// SSH public keys as pinning needs them: the OpenSSH line in the host file, the raw blob a server
// presents, the fingerprint an admin compares on the console (ssh-keygen -lf), and the decision
// whether a presented key may be trusted.

export interface PublicKey {
  type: string
  blob: Buffer
  // `<type> <base64>`, without a comment.
  line: string
}

export interface HostKeyPolicy {
  // The host file's ssh.hostKey (an OpenSSH public key line), or null before the first deploy.
  pinned: string | null
  // The fingerprint an admin passed to --accept-host-key after reading it on the console.
  accept?: string
  // The host file, for messages: `hosts/web1.yaml`.
  hostFile?: string
}

// RFC 4253 §6.6: a key blob starts with its type as an SSH string (uint32 length, then bytes),
// followed by the key itself.
function typeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined
  const length = blob.readUInt32BE(0)
  if (length === 0 || length > 64 || 4 + length >= blob.length) return undefined
  const type = blob.toString('latin1', 4, 4 + length)
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined
}

export function publicKeyOfBlob(blob: Buffer): PublicKey {
  const type = typeOfBlob(blob)
  if (type === undefined) throw new UserError('the SSH host key the server presented is malformed')
  return { type, blob, line: `${type} ${blob.toString('base64')}` }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

// `where` names the line's origin for the message, e.g. `ssh.hostKey in hosts/web1.yaml`.
export function parsePublicKeyLine(line: string, where?: string): PublicKey {
  const at = where === undefined ? '' : ` (${where})`
  // A private key pasted by mistake must not be echoed back into a terminal or a CI log.
  if (/PRIVATE KEY/.test(line))
    throw new UserError(`expected an OpenSSH public key line, got a private key${at}`, {
      hint: 'use the line of the .pub file: `ssh-ed25519 AAAA…`',
    })
  const [type = '', data = ''] = line.trim().split(/\s+/)
  const blob = BASE64.test(data) ? Buffer.from(data, 'base64') : undefined
  if (blob === undefined || typeOfBlob(blob) !== type) {
    const flat = line.trim().replace(/\s+/g, ' ')
    const shown = flat.length > 32 ? `${flat.slice(0, 32)}…` : flat
    throw new UserError(`expected an OpenSSH public key line, got \`${shown}\`${at}`, {
      hint: 'copy the whole line of /etc/ssh/ssh_host_ed25519_key.pub: `ssh-ed25519 AAAA…`',
    })
  }
  return { type, blob, line: `${type} ${blob.toString('base64')}` }
}

// ssh-keygen -l: the SHA-256 of the blob, base64 without padding.
export function fingerprintOf(key: PublicKey | Buffer): string {
  const blob = Buffer.isBuffer(key) ? key : key.blob
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')
}

// The file holding a key of this type on a NixOS or Debian machine, for the console check.
function hostKeyFileOf(type: string): string {
  const kind = type === 'ssh-rsa' ? 'rsa' : type.startsWith('ecdsa-') ? 'ecdsa' : 'ed25519'
  return `/etc/ssh/ssh_host_${kind}_key.pub`
}

// ssh-keygen -lf prints `SHA256:` and 43 characters of base64; an MD5 fingerprint is not enough.
export function parseFingerprint(text: string): string {
  const trimmed = text.trim().replace(/=+$/, '')
  if (/^SHA256:[A-Za-z0-9+/]{43}$/.test(trimmed)) return trimmed
  throw new UserError(
    `--accept-host-key: expected a SHA256:… fingerprint as ssh-keygen -lf prints it, got \`${text.slice(0, 60)}\``,
    {
      exitCode: ExitCode.usage,
      hint: 'copy the SHA256:… field that `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints on the machine',
    },
  )
}

function interception(name: string, hostFile: string, got = '<fingerprint>'): string {
  return `if ${name} was reinstalled outside Keystone, check its key on its console, remove ssh.hostKey from ${hostFile} and run again with --accept-host-key ${got}; otherwise someone may be intercepting the connection`
}

// Whether `presented` may be trusted: undefined when it may, else the error to report. A pin
// always wins over --accept-host-key, which only settles a host's first contact.
export function checkHostKey(
  name: string,
  presented: PublicKey,
  policy: HostKeyPolicy,
): UserError | undefined {
  const hostFile = policy.hostFile ?? `hosts/${name}.yaml`
  const got = fingerprintOf(presented)
  if (policy.pinned !== null) {
    const pinned = parsePublicKeyLine(policy.pinned, `ssh.hostKey in ${hostFile}`)
    if (presented.blob.equals(pinned.blob)) return undefined
    return new UserError(
      `${name} presented host key ${got}, but ${hostFile} pins ${fingerprintOf(pinned)}`,
      {
        exitCode: ExitCode.integrity,
        hint: interception(name, hostFile, got),
      },
    )
  }
  if (policy.accept === undefined)
    return new UserError(
      `${name}'s host key is not pinned: it presented ${presented.type} ${got}`,
      {
        hint: `compare it with \`ssh-keygen -lf ${hostKeyFileOf(presented.type)}\` on ${name}'s console, then run again with --accept-host-key ${got}`,
      },
    )
  if (parseFingerprint(policy.accept) === got) return undefined
  return new UserError(
    `${name} presented host key ${got}, not the ${policy.accept} given to --accept-host-key`,
    {
      exitCode: ExitCode.integrity,
      hint: `read the fingerprint on ${name}'s console again (\`ssh-keygen -lf ${hostKeyFileOf(presented.type)}\`); a different key may mean someone is intercepting the connection`,
    },
  )
}

// The server has no key of the pinned type at all (ssh2: "no matching host key format").
export function pinnedKeyMissing(
  name: string,
  policy: HostKeyPolicy & { pinned: string },
): UserError {
  const hostFile = policy.hostFile ?? `hosts/${name}.yaml`
  const pinned = parsePublicKeyLine(policy.pinned, `ssh.hostKey in ${hostFile}`)
  return new UserError(
    `${name} offered no ${pinned.type} host key, but ${hostFile} pins ${fingerprintOf(pinned)}`,
    {
      exitCode: ExitCode.integrity,
      hint: interception(name, hostFile),
    },
  )
}
