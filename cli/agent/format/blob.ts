import { deflateRawSync, inflateRawSync } from 'node:zlib'
import { chunkId, type RepositoryKeys } from '../crypto/repository-keys.js'
import { open, seal } from '../crypto/seal.js'
import { blobAad, type BlobEntry, type BlobKind } from './pack.js'
import { FormatError } from './bytes.js'

export interface SealedBlob {
  id: Buffer
  kind: BlobKind
  compressed: boolean
  rawLength: number
  sealed: Buffer
}

// Compression is worth it only when a sample shrinks: deflating incompressible data (media,
// archives, already-encrypted files) would cost more CPU than the encryption itself.
const SAMPLE_BYTES = 16 * 1024
const compresses = (data: Uint8Array) =>
  data.length >= 256 &&
  deflateRawSync(data.subarray(0, SAMPLE_BYTES), { level: 1 }).length <
    0.9 * Math.min(data.length, SAMPLE_BYTES)

// Chunk id from the plaintext, then compress (when it pays), then seal with the id as
// associated data.
export function sealBlob(
  keys: RepositoryKeys,
  plaintext: Uint8Array,
  kind: BlobKind,
  compression: boolean,
): SealedBlob {
  const id = chunkId(keys.id, plaintext)
  let body: Uint8Array = plaintext
  let compressed = false
  if (compression && compresses(plaintext)) {
    const deflated = deflateRawSync(plaintext, { level: 1 })
    if (deflated.length < plaintext.length) {
      body = deflated
      compressed = true
    }
  }
  return {
    id,
    kind,
    compressed,
    rawLength: plaintext.length,
    sealed: seal(keys.seal, body, blobAad(id)),
  }
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
