import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads'
import { Chunker } from '../repository/chunker.js'
import { collectYoung } from './collect-young.js'
import { blobRoom, sealBlobInto } from '../repository/format/blob.js'
import type { RepositoryKeys } from '../repository/crypto/repository-keys.js'
import type { FileNews, WorkerInit, WorkerReply, WorkerTask } from './worker-protocol.js'

// A worker thread of a backup pass: reads files, cuts them into chunks, hashes, compresses and
// seals each chunk into a reply buffer that is posted (transferred, not copied) when full. The
// CPU work of a pass happens here, on every core; the main thread only deduplicates, packs and
// uploads. Backpressure: the main thread counts the bytes it has not consumed yet in `inFlight`;
// above `limit` this worker waits, so a fast disk cannot fill the memory.
const init = workerData as WorkerInit
const keys: RepositoryKeys = {
  seal: Buffer.from(init.seal),
  id: Buffer.from(init.id),
  gear: new Uint32Array(init.gear),
  keyMac: Buffer.alloc(0),
}
const chunker = new Chunker(keys.gear, init.sizes)
const inFlight = new Int32Array(init.inFlight)
const READ_BYTES = init.sizes.max + 1024 * 1024
const buffer = Buffer.allocUnsafe(READ_BYTES)

function waitForRoom(): void {
  for (;;) {
    const current = Atomics.load(inFlight, 0)
    if (current <= init.limit) return
    Atomics.wait(inFlight, 0, current, 1000)
  }
}

// The reply being filled: news of the current task, its blobs' refs and sealed bytes.
const POST_BYTES = 4 * 1024 * 1024
let pending: FileNews[] = []
let refs: number[] = []
let out: Buffer | undefined
let used = 0

// A reply buffer the main thread sent back, or a new one. Taken synchronously: a large file is
// one task, and its replies must reuse buffers while it is still being read.
function replyBuffer(room: number): Buffer {
  for (;;) {
    const spare = receiveMessageOnPort(init.spares)?.message as ArrayBuffer | undefined
    if (spare === undefined) break
    if (spare.byteLength >= room) return Buffer.from(spare)
  }
  // Its own ArrayBuffer (never the shared pool), so it can be transferred.
  return Buffer.allocUnsafeSlow(Math.max(POST_BYTES, room))
}

function flush(task: number): void {
  if (pending.length === 0) return
  const bytes = (out ?? Buffer.alloc(0)).buffer as ArrayBuffer
  const refArray = Int32Array.from(refs)
  waitForRoom()
  Atomics.add(inFlight, 0, used)
  parentPort!.postMessage(
    { type: 'files', task, files: pending, bytes, refs: refArray } satisfies WorkerReply,
    [bytes, refArray.buffer],
  )
  pending = []
  refs = []
  out = undefined
  used = 0
  collectYoung()
}

// The news entry of file `index`, open for more blobs.
function newsOf(index: number): FileNews {
  const last = pending.at(-1)
  if (
    last !== undefined &&
    last.file === index &&
    last.size === undefined &&
    last.error === undefined
  )
    return last
  const fresh: FileNews = { file: index, blobs: 0 }
  pending.push(fresh)
  return fresh
}

function addBlob(task: number, index: number, plaintext: Uint8Array): void {
  const room = blobRoom(plaintext.length)
  if (out !== undefined && used + room > out.length) flush(task)
  out ??= replyBuffer(room)
  const ref = sealBlobInto(keys, plaintext, init.compression, out, used)
  used += 32 + ref.length
  refs.push(ref.at, ref.length, ref.rawLength, ref.compressed ? 1 : 0)
  newsOf(index).blobs++
  if (used >= POST_BYTES) flush(task)
}

// Reads one file to its end, sealing its blobs in order; returns the bytes read.
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
      const view = buffer.subarray(0, filled)
      while (start < filled) {
        const length = chunker.nextCut(view, start, eof)
        if (length === 0) break
        addBlob(task, index, view.subarray(start, start + length))
        start += length
      }
      if (eof && start === filled) return total
    }
  } finally {
    closeSync(fd)
  }
}

parentPort!.on('message', (task: WorkerTask) => {
  const files = task.files.split('\0')
  for (let i = 0; i < files.length; i++) {
    try {
      const size = chunkFile(files[i]!, task.id, i)
      newsOf(i).size = size
    } catch (error) {
      newsOf(i).error = (error as Error).message
    }
  }
  flush(task.id)
  parentPort!.postMessage({ type: 'task-done', task: task.id } satisfies WorkerReply)
})
