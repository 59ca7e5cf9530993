import { open, seal } from '../crypto/seal.js'
import { ByteReader, ByteWriter, FormatError } from './bytes.js'

// A snapshot object: small, sealed JSON pointing at the manifest's tree blobs. The parent is
// the previous snapshot of the same host and paths, which `prune` and two-way sync follow.
//
// Version 2 names one tree blob, the tree list, which holds the ids of the manifest's tree
// blobs. Version 1 listed those ids in the snapshot itself, as hex: 66 bytes per tree blob in
// every snapshot, uploaded again by every pass (8 KiB for 20,000 files, with no change at all)
// and read again by every listing. The tree list costs 32 bytes per blob and only when the
// tree changed: an unchanged list is the same blob. Version 1 snapshots are still read.
export type Snapshot = SnapshotCommon &
  ({ version: 2; root: string } | { version: 1; tree: string[] })

interface SnapshotCommon {
  time: string // ISO 8601
  host: string
  paths: string[]
  parent?: string
  stats: { files: number; dirs: number; bytes: number; addedBytes: number }
}

const AAD = Buffer.from('keystone snapshot v1') // the seal's context, the same for both versions

export const encodeSnapshot = (sealKey: Uint8Array, snapshot: Snapshot): Buffer =>
  seal(sealKey, Buffer.from(JSON.stringify(snapshot)), AAD)

export function decodeSnapshot(sealKey: Uint8Array, sealed: Uint8Array): Snapshot {
  const plain = open(sealKey, sealed, AAD)
  if (plain === undefined) throw new FormatError('the snapshot does not authenticate')
  const value = JSON.parse(plain.toString('utf8')) as Snapshot
  if (
    value.version === 2
      ? typeof value.root !== 'string'
      : value.version !== 1 || !Array.isArray(value.tree)
  )
    throw new FormatError('not a version 1 or 2 snapshot')
  return value
}

// The tree list blob: the magic, a count, then the tree blob ids (32 bytes each), in order.
const TREE_LIST_MAGIC = 'keystone tree list v1'

export function encodeTreeList(ids: readonly Uint8Array[]): Buffer {
  const w = new ByteWriter().string(TREE_LIST_MAGIC).varint(ids.length)
  for (const id of ids) w.bytes(id)
  return w.finish()
}

export function decodeTreeList(bytes: Uint8Array): string[] {
  const r = new ByteReader(bytes)
  if (r.string() !== TREE_LIST_MAGIC) throw new FormatError('not a tree list')
  const count = r.varint()
  const ids: string[] = []
  for (let i = 0; i < count; i++) ids.push(Buffer.from(r.bytes(32)).toString('hex'))
  if (!r.done) throw new FormatError('trailing bytes in the tree list')
  return ids
}
