import type { MessagePort } from 'node:worker_threads'
import type { ChunkSizes } from '../repository/chunker.js'
import type { RestoringName } from './restoring-name.js'

// Messages between a backup pass and its chunk workers (chunk-worker.ts, worker-pool.ts).
export interface WorkerInit {
  seal: Uint8Array
  id: Uint8Array
  gear: Uint32Array
  sizes: ChunkSizes
  compression: boolean
  inFlight: SharedArrayBuffer // one Int32: sealed bytes posted and not yet consumed
  limit: number
  // Reply buffers come back on this port once their blobs are packed, and the worker fills them
  // again: a pass then moves hundreds of MiB through a few buffers instead of allocating one per
  // reply, which the allocator keeps long after the collector frees it.
  spares: MessagePort
}

export interface WorkerTask {
  id: number
  files: string // the paths joined by NUL, which no path holds: one string clones faster than 256
}

// What a worker learned about one file: its next `blobs` blobs (in order, in the reply's refs),
// then (at the end) its size or error.
export interface FileNews {
  file: number
  blobs: number
  size?: number // set when the file was read to its end
  error?: string
}

// Replies carry many files at once, their blobs sealed back to back into one transferred buffer:
// thousands of small files must not cost thousands of messages or buffers (each one is work for
// the structured clone and the collector on both sides). `refs` holds four numbers per blob:
// where it starts in `bytes` (its 32-byte id, then its sealed bytes), its sealed length, its
// plaintext length and 1 when it is compressed.
export type WorkerReply =
  | { type: 'files'; task: number; files: FileNews[]; bytes: ArrayBuffer; refs: Int32Array }
  | { type: 'task-done'; task: number }

export const REF_FIELDS = 4

// Restore: one downloaded pack object (transferred), the blobs to take from it and where each
// goes. Ids travel as hex: a view into a larger buffer would clone the whole buffer with it.
export interface Placement {
  path: string // the file's manifest path: the worker writes to its restoring name (restoring-name.ts)
  offset: number
  // The file's only chunk: it is created, written and given its metadata in one go.
  whole?: FileMetadata
}

// What a worker sets on a file it wrote whole, through the open descriptor: no path lookups on
// the main thread afterwards. The owner is set only when the restore runs as root.
export interface FileMetadata {
  mode: number
  seconds: number // mtime (and atime), as Node's utimes take it
  uid: number
  gid: number
}

export interface RestoreInit {
  seal: Uint8Array
  names: RestoringName
  // No syncfs on this machine: each file is flushed before it is closed.
  fsyncEach: boolean
}

export interface RestoreBlob {
  id: string
  compressed: boolean
  offset: number
  length: number
  rawLength: number
  places: Placement[]
}

export interface RestoreJob {
  job: number
  object: string
  pack: ArrayBuffer // the object is its first `length` bytes
  length: number
  blobs: RestoreBlob[]
}

export interface RestoreReply {
  job: number
  pack: ArrayBuffer // back, to be downloaded into again
  failure?:
    | { kind: 'integrity'; object: string; reason: string }
    | { kind: 'fs'; message: string; code?: string; syscall?: string; path?: string }
    | { kind: 'other'; message: string }
}
