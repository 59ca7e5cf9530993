import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { chunkId, type RepositoryKeys } from '../crypto/repository-keys.js'
import { SEAL_OVERHEAD, open, seal, sealInto } from '../crypto/seal.js'
import { blobAad, type BlobEntry, type BlobKind } from './pack.js'
import { FormatError } from './bytes.js'
import { IntegrityError } from '../crypto/integrity-error.js'

export interface SealedBlob {
  id: Buffer
  kind: BlobKind
  compressed: boolean
  rawLength: number
  sealed: Buffer
}

// Compression is worth it only when it can save 10 %. Deflating incompressible data (media,
// archives, already-encrypted files) would cost more CPU than the encryption itself, so a sample's
// order-0 entropy decides first, as btrfs's compression heuristic does: at 7.2 bits a byte or
// more (90 % of 8) no symbol coding can save 10 %. Below that the chunk is deflated, and kept
// deflated only when it came out shorter.
// 2,048 bytes spread over the chunk are enough: the estimate of uniformly random bytes is then
// about 7.9 bits, well clear of the threshold, at a few microseconds a chunk.
const SAMPLES = 2048
const INCOMPRESSIBLE_BITS = 7.2
const histogram = new Uint32Array(256)
export function looksCompressible(data: Uint8Array): boolean {
  if (data.length < 256) return false
  const step = Math.max(1, Math.floor(data.length / SAMPLES))
  histogram.fill(0)
  let n = 0
  for (let i = 0; i < data.length && n < SAMPLES; i += step, n++) histogram[data[i]!]!++
  let bits = 0
  for (let k = 0; k < 256; k++) {
    const p = histogram[k]! / n
    if (p > 0) bits -= p * Math.log2(p)
  }
  return bits < INCOMPRESSIBLE_BITS
}

// Chunk id from the plaintext, then compress (when it pays), then seal with the id as
// associated data.
export function sealBlob(
  keys: RepositoryKeys,
  plaintext: Uint8Array,
  kind: BlobKind,
  compression: boolean,
): SealedBlob {
  const { id, body, compressed } = prepare(keys, plaintext, compression)
  return {
    id,
    kind,
    compressed,
    rawLength: plaintext.length,
    sealed: seal(keys.seal, body, blobAad(id)),
  }
}

// Where sealBlobInto put a blob: its 32-byte id at `at`, its sealed bytes right after.
export interface BlobRef {
  at: number
  length: number // sealed
  compressed: boolean
  rawLength: number
}

// The most bytes sealBlobInto writes for a plaintext of `length` bytes (compression only ever
// keeps a shorter body).
export const blobRoom = (length: number) => 32 + length + SEAL_OVERHEAD

// sealBlob, written into `out` at `at` (room: blobRoom) instead of a buffer of its own.
export function sealBlobInto(
  keys: RepositoryKeys,
  plaintext: Uint8Array,
  compression: boolean,
  out: Buffer,
  at: number,
): BlobRef {
  const { id, body, compressed } = prepare(keys, plaintext, compression)
  id.copy(out, at)
  const length = sealInto(keys.seal, body, blobAad(id), out, at + 32)
  return { at, length, compressed, rawLength: plaintext.length }
}

function prepare(keys: RepositoryKeys, plaintext: Uint8Array, compression: boolean) {
  const id = chunkId(keys.id, plaintext)
  if (compression && looksCompressible(plaintext)) {
    const deflated = deflateRawSync(plaintext, { level: 1 })
    if (deflated.length < plaintext.length) return { id, body: deflated, compressed: true }
  }
  return { id, body: plaintext, compressed: false }
}

// The plaintext of one blob, checked three ways: the AEAD tag, the length and the chunk id.
// The tag alone already proves the blob was sealed for this id by a holder of the key; restore
// skips re-hashing for speed, `verify --read-data` does not.
export function openBlob(
  keys: RepositoryKeys,
  entry: BlobEntry,
  sealed: Uint8Array,
  checkId = true,
): Buffer {
  const body = open(keys.seal, sealed, blobAad(entry.id))
  if (body === undefined)
    throw new FormatError(`blob ${Buffer.from(entry.id).toString('hex')} does not authenticate`)
  let plaintext: Buffer
  try {
    plaintext = entry.compressed ? inflateRawSync(body, { maxOutputLength: entry.rawLength }) : body
  } catch {
    throw new FormatError(`blob ${Buffer.from(entry.id).toString('hex')} does not decompress`)
  }
  if (
    plaintext.length !== entry.rawLength ||
    (checkId && !chunkId(keys.id, plaintext).equals(entry.id))
  )
    throw new FormatError(`blob ${Buffer.from(entry.id).toString('hex')} does not match its id`)
  return plaintext
}

// One blob out of a downloaded pack object: anything wrong with it is an IntegrityError naming
// the object (exit 3), never a blob restored silently.
export function blobFromPack(
  keys: RepositoryKeys,
  object: string,
  pack: Buffer,
  entry: BlobEntry,
  checkId = true,
): Buffer {
  try {
    if (entry.offset + entry.length > pack.length)
      throw new FormatError('a blob lies outside the pack')
    return openBlob(keys, entry, pack.subarray(entry.offset, entry.offset + entry.length), checkId)
  } catch (error) {
    if (error instanceof FormatError) throw new IntegrityError(object, error.message)
    throw error
  }
}
