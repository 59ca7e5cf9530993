import { open, seal } from '../crypto/seal.js'
import { FormatError } from './bytes.js'

// A snapshot object: small, sealed JSON pointing at the manifest's tree blobs. The parent is
// the previous snapshot of the same host and paths, which `prune` and two-way sync follow.
export interface Snapshot {
  version: 1
  time: string // ISO 8601
  host: string
  paths: string[]
  parent?: string
  tree: string[] // hex ids of the manifest's tree blobs, in order
  stats: { files: number; dirs: number; bytes: number; addedBytes: number }
}

const AAD = Buffer.from('keystone snapshot v1')

export const encodeSnapshot = (sealKey: Uint8Array, snapshot: Snapshot): Buffer =>
  seal(sealKey, Buffer.from(JSON.stringify(snapshot)), AAD)

export function decodeSnapshot(sealKey: Uint8Array, sealed: Uint8Array): Snapshot {
  const plain = open(sealKey, sealed, AAD)
  if (plain === undefined) throw new FormatError('the snapshot does not authenticate')
  const value = JSON.parse(plain.toString('utf8')) as Snapshot
  if (value.version !== 1 || !Array.isArray(value.tree))
    throw new FormatError('not a version 1 snapshot')
  return value
}
