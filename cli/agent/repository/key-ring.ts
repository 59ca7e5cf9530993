import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { decryptFile, encryptTo, recipientOf } from '../../vault/age.js'
import { IntegrityError } from './crypto/integrity-error.js'
import { open, seal } from './crypto/seal.js'
import type { RepositoryKeys } from './crypto/repository-keys.js'

// The master key wrapped for each device and for the recovery key: `keys/<id>`, where the id
// is the SHA-256 of the age recipient. Any one identity unwraps it, so losing a device loses
// nothing. Each object also carries a MAC under the master key, so `verify` catches a damaged
// key object even for a device it cannot unwrap for. The label (a host name) is sealed.
export type KeyKind = 'device' | 'recovery'

interface KeyObject {
  version: 1
  kind: KeyKind
  created: string
  label: string // base64 of the sealed label
  wrapped: string // base64 of the age file holding the master key
  mac: string // hex HMAC-SHA256 over kind, created, label and wrapped
}

export interface KeyInfo {
  id: string
  kind: KeyKind
  created: string
  label: string
}

const LABEL_AAD = Buffer.from('keystone key label v1')

export const keyIdOf = (recipient: string) => createHash('sha256').update(recipient).digest('hex')
export const keyName = (id: string) => `keys/${id}`

// A short fingerprint to read aloud or compare on paper: the first 64 bits of the key id.
export const fingerprint = (id: string) => id.slice(0, 16).replace(/(.{4})(?!$)/g, '$1-')

const macOf = (keys: RepositoryKeys, o: Omit<KeyObject, 'mac'>) =>
  createHmac('sha256', keys.keyMac)
    .update(JSON.stringify([o.version, o.kind, o.created, o.label, o.wrapped]))
    .digest('hex')

export async function wrapKey(
  master: Uint8Array,
  keys: RepositoryKeys,
  recipient: string,
  kind: KeyKind,
  label: string,
  now = new Date(),
): Promise<{ name: string; bytes: Buffer }> {
  const body: Omit<KeyObject, 'mac'> = {
    version: 1,
    kind,
    created: now.toISOString(),
    label: seal(keys.seal, Buffer.from(label), LABEL_AAD).toString('base64'),
    wrapped: Buffer.from(await encryptTo([recipient], master)).toString('base64'),
  }
  const object: KeyObject = { ...body, mac: macOf(keys, body) }
  return { name: keyName(keyIdOf(recipient)), bytes: Buffer.from(JSON.stringify(object)) }
}

// Key objects are canonical JSON (compact, fields in order), so every byte matters: a flipped
// space or newline is refused like any other change.
const FIELDS = ['version', 'kind', 'created', 'label', 'wrapped', 'mac'].join()

function parse(name: string, bytes: Uint8Array): KeyObject {
  try {
    const text = Buffer.from(bytes).toString('utf8')
    const o = JSON.parse(text) as KeyObject
    if (o.version === 1 && Object.keys(o).join() === FIELDS && JSON.stringify(o) === text) return o
  } catch {
    // reported below
  }
  throw new IntegrityError(name, 'not a key object')
}

// The master key, from the key object for `identity`.
export async function unwrapKey(
  name: string,
  bytes: Uint8Array,
  identity: string,
): Promise<Buffer> {
  const o = parse(name, bytes)
  const master = Buffer.from(
    await decryptFile(name, Buffer.from(o.wrapped, 'base64'), { identities: [identity] }),
  )
  if (master.length !== 32)
    throw new IntegrityError(name, 'the wrapped master key has the wrong length')
  return master
}

// Checks a key object's MAC and returns what it says; IntegrityError if it was altered.
export function readKeyInfo(name: string, bytes: Uint8Array, keys: RepositoryKeys): KeyInfo {
  const o = parse(name, bytes)
  const { mac, ...body } = o
  const expected = Buffer.from(macOf(keys, body), 'hex')
  const actual = Buffer.from(mac, 'hex')
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected))
    throw new IntegrityError(name, 'the key object was altered (its MAC does not match)')
  const label = open(keys.seal, Buffer.from(o.label, 'base64'), LABEL_AAD)
  if (label === undefined) throw new IntegrityError(name, 'the key label does not authenticate')
  return {
    id: name.slice('keys/'.length),
    kind: o.kind,
    created: o.created,
    label: label.toString('utf8'),
  }
}

export { recipientOf }
