import type { ChunkSizes } from './chunker.js'
import type { SealedBlob } from './format/blob.js'

// Messages between a backup pass and its chunk workers (chunk-worker.ts, worker-pool.ts).
export interface WorkerInit {
  seal: Uint8Array
  id: Uint8Array
  gear: Uint32Array
  sizes: ChunkSizes
  compression: boolean
  inFlight: SharedArrayBuffer // one Int32: sealed bytes posted and not yet consumed
  limit: number
}

export interface WorkerTask {
  id: number
  files: string[]
}

// What a worker learned about one file: blobs in order, then (at the end) its size or error.
export interface FileNews {
  file: number
  blobs: SealedBlob[]
  size?: number // set when the file was read to its end
  error?: string
}

// Replies carry many files at once: thousands of small files must not cost thousands of
// messages (each one is a structured clone on both sides).
export type WorkerReply =
  { type: 'files'; task: number; files: FileNews[] } | { type: 'task-done'; task: number }
