import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { UserError } from '../errors.js'

// A host agent's Ed25519 signing key: the private key in PKCS#8 PEM (made at deploy, or by the
// agent on first use), the public key as the host file pins it: `ed25519:<base64 of 32 bytes>`.
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex') // RFC 8410 §4

export function generateSigningKey(): string {
  return generateKeyPairSync('ed25519').privateKey.export({
    type: 'pkcs8',
    format: 'pem',
  }) as string
}

export function readSigningKey(file: string): KeyObject {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (error) {
    throw new UserError(
      `${file}: cannot read the agent's signing key (${(error as NodeJS.ErrnoException).code})`,
    )
  }
  try {
    const key = createPrivateKey(pem)
    if (key.asymmetricKeyType === 'ed25519') return key
  } catch {
    // reported below
  }
  throw new UserError(`${file}: not an Ed25519 private key in PKCS#8 PEM`, {
    hint: 'deploy installs one; `openssl genpkey -algorithm ed25519` makes one by hand',
  })
}

export const signingKeyExists = (file: string) => existsSync(file)

export function publicKeyString(key: KeyObject): string {
  const der = createPublicKey(key).export({ type: 'spki', format: 'der' })
  return `ed25519:${der.subarray(SPKI_ED25519_PREFIX.length).toString('base64')}`
}

// undefined when the text is not an `ed25519:` key of 32 bytes.
export function parsePublicKey(text: string): KeyObject | undefined {
  const m = /^ed25519:([A-Za-z0-9+/]{43}=)$/.exec(text)
  if (m === null) return undefined
  const raw = Buffer.from(m[1]!, 'base64')
  if (raw.length !== 32) return undefined
  return createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  })
}
