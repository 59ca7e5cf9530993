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

export type WorkerReply =
  | { type: 'blobs'; task: number; file: number; blobs: SealedBlob[] }
  | { type: 'file-done'; task: number; file: number; size: number }
  | { type: 'file-error'; task: number; file: number; message: string }
  | { type: 'task-done'; task: number }
