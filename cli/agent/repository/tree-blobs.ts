import { Chunker, type ChunkSizes } from './chunker.js'
import { encodeManifest, type Entry } from './format/manifest.js'

// How a snapshot's manifest is cut into tree blobs. Cuts fall between entries, never inside
// one, and depend only on the entries' paths and sizes, never on their contents: a file that
// changes in place rewrites the blob that holds it and no other, where a cut found by hashing
// the manifest's bytes could move with the new chunk ids and mtimes and rewrite the next blob
// too. A directory starts a new blob once the current one has `min` bytes, so a change inside
// one directory rewrites that directory's blobs, as with restic's tree per directory. (After
// `bench/sync.sh` changes 200 files of one directory among 20,000, the new tree blobs come to
// 8 KiB; cut by the chunker over the manifest's bytes, they came to 29 KiB.)
// Within a directory, a keyed hash of each path picks more cuts, about one per `avg` bytes,
// never leaving less than `min` of the directory for the next blob. An entry larger than `max`
// (a file of thousands of chunks) is cut inside by the content-defined chunker, so one changed
// chunk of a large file does not rewrite its whole list.
//
// Readers only concatenate the blobs, so these cuts can change between versions without any
// change to the format: a new cut costs one upload of the blobs it moves.
export const TREE_SIZES: ChunkSizes = { min: 8 * 1024, avg: 32 * 1024, max: 128 * 1024 }

export function treeBlobs(
  entries: readonly Entry[],
  gear: Uint32Array,
  sizes: ChunkSizes = TREE_SIZES,
): Buffer[] {
  const starts: number[] = []
  const manifest = encodeManifest(entries, starts)
  starts.push(manifest.length)
  const { min, avg, max } = sizes
  const blobs: Buffer[] = []
  let blobStart = 0 // the first blob also holds the manifest's magic and count
  const cut = (at: number) => {
    if (at > blobStart) blobs.push(manifest.subarray(blobStart, at))
    blobStart = at
  }
  // Where the directory of each entry's run ends: the next directory entry, or the end.
  const runEnd: number[] = new Array<number>(entries.length)
  for (let i = entries.length - 1, end = manifest.length; i >= 0; i--) {
    runEnd[i] = end
    if (entries[i]!.type === 'dir') end = starts[i]!
  }
  entries.forEach((entry, i) => {
    const at = starts[i]!
    const entryLength = starts[i + 1]! - at
    const length = at - blobStart
    if (
      length + entryLength > max ||
      (length >= min &&
        (entry.type === 'dir' ||
          // Not when the rest of the directory is under `min`: it would open the next
          // directory's blob, and a change in this directory would rewrite that one too.
          (runEnd[i]! - at >= min && pathHash(entry.path, gear) < chance(entryLength, avg - min))))
    )
      cut(at)
    if (entryLength > max) {
      for (const piece of new Chunker(gear, sizes).lengths(manifest.subarray(at, at + entryLength)))
        cut(blobStart + piece)
    }
  })
  cut(manifest.length)
  return blobs
}

// A cut before an entry of `length` bytes with probability length / span: about one cut per
// `span` bytes, whatever the entries' sizes. As a bound on a 32-bit hash.
const chance = (length: number, span: number) =>
  length >= span ? 2 ** 32 : Math.floor((length / span) * 2 ** 32)

// A 32-bit hash of the path keyed by the repository's gear table, so where a directory's blobs
// are cut reveals nothing about the names in it.
function pathHash(path: string, gear: Uint32Array): number {
  let h = 0
  for (let i = 0; i < path.length; i++)
    h = Math.imul(h ^ gear[path.charCodeAt(i) & 0xff]!, 0x9e3779b1)
  h ^= h >>> 15
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  return h >>> 0
}
