import { SEAL_OVERHEAD, open, seal } from '../crypto/seal.js'
import { ByteReader, ByteWriter, FormatError } from './bytes.js'

// A pack object: many sealed blobs back to back, then their sealed header, then the header's
// length (u32, little-endian). Thousands of small files become a few PUTs, and the header lets
// `verify` and `prune` read a pack's contents without an index. The pack's name is the SHA-256
// of its bytes, so the store can be checked for damage without any key.
export const BlobKind = { data: 0, tree: 1 } as const
export type BlobKind = (typeof BlobKind)[keyof typeof BlobKind]

export interface BlobEntry {
  id: Uint8Array // 32 bytes: HMAC-SHA256 of the plaintext under the id key
  kind: BlobKind
  compressed: boolean
  offset: number // in the pack
  length: number // sealed length in the pack
  rawLength: number // plaintext length
}

const HEADER_AAD = Buffer.from('keystone pack header v1')
const TRAILER_BYTES = 4

export function encodeEntries(w: ByteWriter, entries: readonly BlobEntry[]): void {
  w.varint(entries.length)
  for (const e of entries) {
    w.bytes(e.id).byte(e.kind | (e.compressed ? 0x80 : 0))
    w.varint(e.offset).varint(e.length).varint(e.rawLength)
  }
}

export function decodeEntries(r: ByteReader): BlobEntry[] {
  const count = r.varint()
  const entries: BlobEntry[] = []
  for (let i = 0; i < count; i++) {
    const id = r.bytes(32)
    const flags = r.byte()
    const kind = flags & 0x7f
    if (kind !== BlobKind.data && kind !== BlobKind.tree)
      throw new FormatError(`unknown blob kind ${kind}`)
    entries.push({
      id,
      kind,
      compressed: (flags & 0x80) !== 0,
      offset: r.varint(),
      length: r.varint(),
      rawLength: r.varint(),
    })
  }
  return entries
}

// Collects sealed blobs into one growing buffer as they come (each copied once, so the worker's
// buffer is free at once); `finish` appends the header and returns the pack without another copy.
export class PackBuilder {
  readonly entries: BlobEntry[] = []
  #buf: Buffer
  #size = 0

  // A number allocates that much; a buffer (a finished pack's, whose upload is done) is filled
  // again from its start.
  constructor(capacity: number | Buffer = 1024 * 1024) {
    this.#buf = typeof capacity === 'number' ? Buffer.allocUnsafeSlow(capacity) : capacity
  }

  get size(): number {
    return this.#size
  }

  get count(): number {
    return this.entries.length
  }

  #room(n: number): void {
    if (this.#size + n <= this.#buf.length) return
    const next = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#size + n))
    this.#buf.copy(next, 0, 0, this.#size)
    this.#buf = next
  }

  // `sealed` is the blob already sealed with its id as associated data.
  add(entry: Omit<BlobEntry, 'offset' | 'length'>, sealed: Uint8Array): BlobEntry {
    const full: BlobEntry = {
      id: Buffer.from(entry.id),
      kind: entry.kind,
      compressed: entry.compressed,
      offset: this.#size,
      length: sealed.length,
      rawLength: entry.rawLength,
    }
    this.#room(sealed.length)
    this.#buf.set(sealed, this.#size)
    this.#size += sealed.length
    this.entries.push(full)
    return full
  }

  finish(sealKey: Uint8Array): Buffer {
    const w = new ByteWriter()
    encodeEntries(w, this.entries)
    const header = seal(sealKey, w.finish(), HEADER_AAD)
    this.#room(header.length + TRAILER_BYTES)
    header.copy(this.#buf, this.#size)
    this.#buf.writeUInt32LE(header.length, this.#size + header.length)
    return this.#buf.subarray(0, this.#size + header.length + TRAILER_BYTES)
  }
}

// The entries of a whole pack, checked against its bounds; throws FormatError if the pack is
// damaged (a wrong trailer, an unauthentic header, a blob outside the pack).
export function readPackHeader(sealKey: Uint8Array, pack: Uint8Array): BlobEntry[] {
  if (pack.length < TRAILER_BYTES + SEAL_OVERHEAD) throw new FormatError('too short for a pack')
  const view = Buffer.from(pack.buffer, pack.byteOffset, pack.length)
  const headerLength = view.readUInt32LE(pack.length - TRAILER_BYTES)
  const headerStart = pack.length - TRAILER_BYTES - headerLength
  if (headerLength < SEAL_OVERHEAD || headerStart < 0) throw new FormatError('bad header length')
  const header = open(sealKey, pack.subarray(headerStart, headerStart + headerLength), HEADER_AAD)
  if (header === undefined) throw new FormatError('the pack header does not authenticate')
  const r = new ByteReader(header)
  const entries = decodeEntries(r)
  if (!r.done) throw new FormatError('trailing bytes in the pack header')
  for (const e of entries) {
    if (e.offset + e.length > headerStart) throw new FormatError('a blob lies outside the pack')
  }
  return entries
}

export const blobAad = (id: Uint8Array): Uint8Array => id
