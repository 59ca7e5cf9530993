import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { Chunker } from './chunker.js'
import { sealBlob } from './format/blob.js'
import { BlobKind } from './format/pack.js'
import type { RepositoryKeys } from './crypto/repository-keys.js'
import type { FileNews, WorkerInit, WorkerReply, WorkerTask } from './worker-protocol.js'

// A worker thread of a backup pass: reads files, cuts them into chunks, hashes, compresses and
// seals each chunk, and posts the sealed blobs back (transferred, not copied). The CPU work of a
// pass happens here, on every core; the main thread only deduplicates, packs and uploads.
// Backpressure: the main thread counts the bytes it has not consumed yet in `inFlight`; above
// `limit` this worker waits, so a fast disk cannot fill the memory.
const init = workerData as WorkerInit
const keys: RepositoryKeys = {
  seal: Buffer.from(init.seal),
  id: Buffer.from(init.id),
  gear: new Uint32Array(init.gear),
  keyMac: Buffer.alloc(0),
}
const chunker = new Chunker(keys.gear, init.sizes)
const inFlight = new Int32Array(init.inFlight)
const READ_BYTES = Math.max(init.sizes.max * 2, 8 * 1024 * 1024)
const buffer = Buffer.allocUnsafe(READ_BYTES)

function waitForRoom(): void {
  for (;;) {
    const current = Atomics.load(inFlight, 0)
    if (current <= init.limit) return
    Atomics.wait(inFlight, 0, current, 1000)
  }
}

// News of the current task not posted yet, and its sealed bytes.
let pending: FileNews[] = []
let pendingBytes = 0
const POST_BYTES = 4 * 1024 * 1024

function flush(task: number): void {
  if (pending.length === 0) return
  const transfer = pending.flatMap((news) => news.blobs.map((b) => b.sealed.buffer as ArrayBuffer))
  waitForRoom()
  Atomics.add(inFlight, 0, pendingBytes)
  parentPort!.postMessage({ type: 'files', task, files: pending } satisfies WorkerReply, transfer)
  pending = []
  pendingBytes = 0
}

function news(task: number, file: number, update: Omit<FileNews, 'file'>): void {
  const last = pending.at(-1)
  if (
    last !== undefined &&
    last.file === file &&
    last.size === undefined &&
    last.error === undefined
  ) {
    last.blobs.push(...update.blobs)
    if (update.size !== undefined) last.size = update.size
    if (update.error !== undefined) last.error = update.error
  } else pending.push({ file, ...update })
  pendingBytes += update.blobs.reduce((n, b) => n + b.sealed.length, 0)
  if (pendingBytes >= POST_BYTES) flush(task)
}

// Reads one file to its end, posting its blobs in order; returns the bytes read.
function chunkFile(path: string, task: number, index: number): number {
  const fd = openSync(path, 'r')
  try {
    let filled = 0 // bytes of `buffer` holding input
    let start = 0 // where the next chunk begins in `buffer`
    let eof = false
    let total = 0
    for (;;) {
      if (!eof) {
        buffer.copy(buffer, 0, start, filled)
        filled -= start
        start = 0
        while (filled < buffer.length && !eof) {
          const n = readSync(fd, buffer, filled, buffer.length - filled, null)
          if (n === 0) eof = true
          filled += n
          total += n
        }
      }
      const blobs = []
      const view = buffer.subarray(0, filled)
      while (start < filled) {
        const length = chunker.nextCut(view, start, eof)
        if (length === 0) break
        blobs.push(
          sealBlob(keys, view.subarray(start, start + length), BlobKind.data, init.compression),
        )
        start += length
      }
      if (blobs.length > 0) news(task, index, { blobs })
      if (eof && start === filled) return total
    }
  } finally {
    closeSync(fd)
  }
}

parentPort!.on('message', (task: WorkerTask) => {
  for (let i = 0; i < task.files.length; i++) {
    try {
      news(task.id, i, { blobs: [], size: chunkFile(task.files[i]!, task.id, i) })
    } catch (error) {
      news(task.id, i, { blobs: [], error: (error as Error).message })
    }
  }
  flush(task.id)
  parentPort!.postMessage({ type: 'task-done', task: task.id } satisfies WorkerReply)
})
