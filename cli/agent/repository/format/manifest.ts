import { ByteReader, ByteWriter, FormatError } from './bytes.js'

// A snapshot's manifest: every entry of the backed-up trees, in path order. Paths are the
// absolute paths without their leading slash ("home/ada/Documents/a.txt"); only the encrypted
// manifest ever holds them, never an object name. The encoded manifest is cut into tree blobs
// (tree-blobs.ts), so an unchanged tree costs no upload.
export type Entry =
  | (Common & { type: 'file'; size: number; chunks: Uint8Array[] })
  | (Common & { type: 'dir' })
  | (Common & { type: 'symlink'; target: string })

interface Common {
  path: string
  mode: number // permission bits, including setuid/setgid/sticky
  uid: number
  gid: number
  mtimeNs: bigint
}

const MAGIC = 'keystone manifest v1'
const TYPES = ['file', 'dir', 'symlink'] as const

// `starts`, when given, receives the offset where each entry begins: tree blobs are cut there.
export function encodeManifest(entries: readonly Entry[], starts?: number[]): Buffer {
  const w = new ByteWriter().string(MAGIC).varint(entries.length)
  for (const e of entries) {
    starts?.push(w.length)
    w.byte(TYPES.indexOf(e.type))
      .string(e.path)
      .varint(e.mode)
      .varint(e.uid)
      .varint(e.gid)
      .bigint(e.mtimeNs)
    if (e.type === 'file') {
      w.varint(e.size).varint(e.chunks.length)
      for (const id of e.chunks) w.bytes(id)
    } else if (e.type === 'symlink') {
      w.string(e.target)
    }
  }
  return w.finish()
}

// Restore and two-way sync write every entry at target + "/" + path: a path that is absolute,
// climbs with "..", or holds an empty or "." part or a NUL would write outside the target. Only
// a holder of the repository's key can seal a manifest, but that is every device: one device
// taken over must not reach the files of the others. ("" is the root of a backup of "/".)
const UNSAFE_PATH = /^\/|\/$|\/\/|(^|\/)\.\.?(\/|$)|\0/

export function decodeManifest(bytes: Uint8Array): Entry[] {
  const r = new ByteReader(bytes)
  if (r.string() !== MAGIC) throw new FormatError('not a manifest')
  const count = r.varint()
  const entries: Entry[] = []
  // Object literals of one shape per type, not spreads: a spread gave each of 20,000 entries
  // a hidden class of its own, 6 MiB more heap for a restore.
  for (let i = 0; i < count; i++) {
    const type = TYPES[r.byte()]
    if (type === undefined) throw new FormatError('unknown entry type')
    const path = r.string()
    if (UNSAFE_PATH.test(path)) throw new FormatError(`unsafe path ${JSON.stringify(path)}`)
    const mode = r.varint()
    const uid = r.varint()
    const gid = r.varint()
    const mtimeNs = r.bigint()
    if (type === 'file') {
      const size = r.varint()
      const n = r.varint()
      const ids = r.bytes(32 * n) // all there, before an array of `n` is made
      // Sized up front: a pushed-to array reserves room for 17 ids.
      const chunks = new Array<Uint8Array>(n)
      for (let j = 0; j < n; j++) chunks[j] = ids.subarray(32 * j, 32 * j + 32)
      entries.push({ type, path, mode, uid, gid, mtimeNs, size, chunks })
    } else if (type === 'symlink') {
      entries.push({ type, path, mode, uid, gid, mtimeNs, target: r.string() })
    } else {
      entries.push({ type, path, mode, uid, gid, mtimeNs })
    }
  }
  if (!r.done) throw new FormatError('trailing bytes in the manifest')
  return entries
}
