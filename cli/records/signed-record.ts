import { createHash, sign, verify, type KeyObject } from 'node:crypto'
import { canonicalJson } from './canonical-json.js'

// A signed record in the bucket (a heartbeat, an audit event): canonical JSON of the body with
// an Ed25519 signature over the body's canonical bytes, plus a newline. Records form a hash
// chain: each names the SHA-256 of the exact bytes of the one before.
export interface ChainFields {
  version: 1
  host: string
  seq: number // 1, 2, 3, … with no gaps
  time: string // ISO 8601, UTC
  prev: string | null // SHA-256 (hex) of the previous record's bytes; null for the first
}

export function encodeSigned<T extends ChainFields>(body: T, key: KeyObject): Buffer {
  const signature = sign(null, Buffer.from(canonicalJson(body)), key).toString('base64')
  return Buffer.from(canonicalJson({ ...body, signature: `ed25519:${signature}` }) + '\n')
}

export type Decoded<T> = { ok: true; body: T } | { ok: false; reason: string }

// The body, if the bytes are a record signed by `key` and nothing else: any changed, missing or
// added byte fails (the bytes must be exactly the canonical encoding).
export function decodeSigned<T extends ChainFields>(bytes: Uint8Array, key: KeyObject): Decoded<T> {
  let value: Record<string, unknown>
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>
  } catch {
    return { ok: false, reason: 'not JSON (truncated or altered)' }
  }
  if (value === null || typeof value !== 'object' || typeof value.signature !== 'string')
    return { ok: false, reason: 'no signature' }
  const { signature, ...body } = value
  if (!Buffer.from(bytes).equals(Buffer.from(canonicalJson(value) + '\n')))
    return { ok: false, reason: 'not in canonical form (altered)' }
  const m = /^ed25519:([A-Za-z0-9+/]+=*)$/.exec(signature as string)
  if (
    m === null ||
    !verify(null, Buffer.from(canonicalJson(body)), key, Buffer.from(m[1]!, 'base64'))
  )
    return { ok: false, reason: 'the signature does not verify with the pinned agent key' }
  return { ok: true, body: body as unknown as T }
}

export const recordHash = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
