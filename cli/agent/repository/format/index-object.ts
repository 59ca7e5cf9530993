import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { open, seal } from '../crypto/seal.js'
import { ByteReader, ByteWriter, FormatError } from './bytes.js'
import { decodeEntries, encodeEntries, type BlobEntry } from './pack.js'

// An index object lists, for some packs, the blobs each holds: what a reader needs to find a
// chunk without opening every pack header. Written after its packs, before any snapshot that
// needs them (the commit order packs → index → snapshot).
export interface PackContents {
  pack: string // hex SHA-256 of the pack object
  entries: BlobEntry[]
}

const AAD = Buffer.from('keystone index v1')

export function encodeIndex(sealKey: Uint8Array, packs: readonly PackContents[]): Buffer {
  const w = new ByteWriter()
  w.varint(packs.length)
  for (const p of packs) {
    w.bytes(Buffer.from(p.pack, 'hex'))
    encodeEntries(w, p.entries)
  }
  return seal(sealKey, deflateRawSync(w.finish(), { level: 6 }), AAD)
}

export function decodeIndex(sealKey: Uint8Array, sealed: Uint8Array): PackContents[] {
  const deflated = open(sealKey, sealed, AAD)
  if (deflated === undefined) throw new FormatError('the index does not authenticate')
  const r = new ByteReader(inflateRawSync(deflated))
  const count = r.varint()
  const packs: PackContents[] = []
  for (let i = 0; i < count; i++) {
    packs.push({ pack: Buffer.from(r.bytes(32)).toString('hex'), entries: decodeEntries(r) })
  }
  if (!r.done) throw new FormatError('trailing bytes in the index')
  return packs
}
