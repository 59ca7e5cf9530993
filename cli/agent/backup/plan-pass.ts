import type { Entry } from '../repository/format/manifest.js'
import type { FileRow } from '../home/state.js'
import { manifestPath, type Scanned, type ScannedFile } from './scan.js'

// The decisions of a backup pass, as data: which files to read and which to reuse from the file
// index, how the reads are batched for the chunk workers, the manifest the pass stores and the
// index rows it leaves. No disk, no store: backup.ts gathers the inputs and acts on the result
// (test/agent/plan-pass.test.ts holds the cases).
export interface PassPlan {
  reuse: Map<string, Uint8Array[]> // absolute path → the chunk ids the index holds for it
  read: ScannedFile[] // new or changed since the index saw them, in scan order
}

// A file is unchanged when size, mtime, ctime and inode are those the index saw (restic's test):
// a rewrite keeping size and mtime still moves ctime, a file replaced by another moves the inode.
const sameFile = (row: FileRow, f: ScannedFile) =>
  row.size === f.stat.size &&
  row.mtimeNs === f.stat.mtimeNs &&
  row.ctimeNs === f.stat.ctimeNs &&
  row.inode === f.stat.ino

export const chunkIdsOf = (chunks: Buffer): Uint8Array[] => {
  const ids: Uint8Array[] = []
  for (let i = 0; i + 32 <= chunks.length; i += 32) ids.push(chunks.subarray(i, i + 32))
  return ids
}

// The file index as a pass asks it: a Map in tests, SQLite (state.fileRow) in a pass.
export interface FileIndex {
  get(path: string): FileRow | undefined
}

// `stored`, when given, says whether the repository still holds a chunk: the first pass after an
// upgrade or a repair checks each reused file's chunks, and reads again what lost any.
export function planPass(
  scanned: readonly Scanned[],
  index: FileIndex,
  stored?: (id: Uint8Array) => boolean,
): PassPlan {
  const reuse = new Map<string, Uint8Array[]>()
  const read: ScannedFile[] = []
  for (const entry of scanned) {
    if (entry.type !== 'file') continue
    const row = index.get(entry.path)
    const ids = row === undefined ? [] : chunkIdsOf(row.chunks)
    if (row !== undefined && sameFile(row, entry) && (stored === undefined || ids.every(stored)))
      reuse.set(entry.path, ids)
    else read.push(entry)
  }
  return { reuse, read }
}

// The reads, in tasks for the chunk workers: small files together (up to `files` of them or
// `bytes` in all, so a worker's round trip carries enough work), a large file alone.
export const READ_BATCH = { files: 256, bytes: 4 * 1024 * 1024 }

export function batchReads(
  files: readonly ScannedFile[],
  limits: { files: number; bytes: number } = READ_BATCH,
): string[][] {
  const batches: string[][] = []
  let batch: string[] = []
  let batchBytes = 0
  const close = () => {
    if (batch.length > 0) batches.push(batch)
    batch = []
    batchBytes = 0
  }
  for (const f of files) {
    if (f.stat.size >= limits.bytes) {
      close()
      batches.push([f.path])
      continue
    }
    batch.push(f.path)
    batchBytes += f.stat.size
    if (batch.length >= limits.files || batchBytes >= limits.bytes) close()
  }
  close()
  return batches
}

// The manifest of the pass: every scanned entry but the files that could not be read, with the
// size actually read (a file may change while it is read) and its chunk list.
export function entriesOf(
  scanned: readonly Scanned[],
  chunksOf: { get(path: string): Uint8Array[] | undefined },
  sizeOf: ReadonlyMap<string, number>,
  failed: ReadonlySet<string> = new Set(),
): Entry[] {
  const entries: Entry[] = []
  // Object literals of one shape each, not spreads: this runs once per file of every pass.
  for (const e of scanned) {
    if (failed.has(e.path)) continue
    const path = manifestPath(e.path)
    const mode = e.stat.mode & 0o7777
    const uid = e.stat.uid
    const gid = e.stat.gid
    const mtimeNs = e.stat.mtimeNs
    if (e.type === 'file') {
      const size = sizeOf.get(e.path) ?? e.stat.size
      const chunks = chunksOf.get(e.path) ?? []
      entries.push({ type: 'file', path, mode, uid, gid, mtimeNs, size, chunks })
    } else if (e.type === 'symlink')
      entries.push({ type: 'symlink', path, mode, uid, gid, mtimeNs, target: e.target })
    else entries.push({ type: 'dir', path, mode, uid, gid, mtimeNs })
  }
  return entries
}

// The index rows the pass leaves: the files it read (and could), as the scan saw them, with what
// was read. The rows of reused files stay as they are.
export function fileRowsOf(
  read: readonly ScannedFile[],
  chunksOf: ReadonlyMap<string, Uint8Array[]>,
  sizeOf: ReadonlyMap<string, number>,
  failed: ReadonlySet<string>,
): [string, FileRow][] {
  return read
    .filter((e) => !failed.has(e.path))
    .map((e) => [
      e.path,
      {
        size: sizeOf.get(e.path) ?? e.stat.size,
        mtimeNs: e.stat.mtimeNs,
        ctimeNs: e.stat.ctimeNs,
        inode: e.stat.ino,
        chunks: Buffer.concat(chunksOf.get(e.path) ?? []),
      },
    ])
}

// The meta key under which the last snapshot of these paths on this host is kept (its parent).
export const lastSnapshotKey = (host: string, paths: readonly string[]) =>
  `last-snapshot:${JSON.stringify([host, [...paths].map((p) => manifestPath(p)).sort()])}`
