import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { IntegrityError } from '../repository/crypto/integrity-error.js'
import { WORKER_LIMITS, workerFile } from './worker-pool.js'
import type { ReadBuffer } from '../../store/store.js'
import type { RestoreBlob, RestoreInit, RestoreJob, RestoreReply } from './worker-protocol.js'

// Restore workers, one per core: each job is one downloaded pack, handed over without a copy.
// A job's promise settles when its blobs are on disk, or fails with the worker's error rebuilt
// (an IntegrityError naming the object, a file-system error with its code and path).
export class RestorePool {
  readonly #workers: Worker[] = []
  readonly #idle: Worker[] = []
  readonly #queue: RestoreJob[] = []
  readonly #pending = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>()
  #nextId = 0

  readonly #spares: ArrayBuffer[] = []
  readonly #bufferSize: number

  // `bufferSize`: what a download buffer is made to hold at least (a full pack), so that one
  // buffer serves every pack.
  constructor(init: RestoreInit, bufferSize: number, count = availableParallelism()) {
    this.#bufferSize = bufferSize
    const file = workerFile('restore-worker')
    for (let i = 0; i < Math.max(1, count); i++) {
      const worker = new Worker(file, {
        workerData: init,
        resourceLimits: WORKER_LIMITS,
      })
      worker.on('message', (reply: RestoreReply) => this.#settle(worker, reply))
      worker.on('error', (error) => {
        for (const { reject } of this.#pending.values()) reject(error)
        this.#pending.clear()
      })
      this.#workers.push(worker)
      this.#idle.push(worker)
    }
  }

  // A buffer to download a pack into: one a worker is done with, when one is large enough.
  readonly bufferFor: ReadBuffer = (length) => {
    const i = this.#spares.findIndex((b) => b.byteLength >= length)
    if (i >= 0) return Buffer.from(this.#spares.splice(i, 1)[0]!)
    return Buffer.allocUnsafeSlow(Math.max(length, this.#bufferSize))
  }

  run(object: string, pack: Buffer, blobs: RestoreBlob[]): Promise<void> {
    // Transferred, so it must start an ArrayBuffer of its own: one it fills exactly, or one of
    // `bufferFor`. Anything else (a view into Node's pool of small Buffers) is copied.
    const owned =
      pack.byteOffset === 0 &&
      (pack.buffer.byteLength === pack.length || pack.buffer.byteLength >= this.#bufferSize)
    let own = pack
    if (!owned) {
      own = Buffer.allocUnsafeSlow(pack.length)
      pack.copy(own)
    }
    const job: RestoreJob = {
      job: this.#nextId++,
      object,
      pack: own.buffer as ArrayBuffer,
      length: own.length,
      blobs,
    }
    const done = new Promise<void>((resolve, reject) =>
      this.#pending.set(job.job, { resolve, reject }),
    )
    const worker = this.#idle.pop()
    if (worker === undefined) this.#queue.push(job)
    else worker.postMessage(job, [job.pack])
    return done
  }

  #settle(worker: Worker, reply: RestoreReply): void {
    // Kept for the next downloads: a few suffice (as many as run at once), and only buffers of
    // `bufferFor`'s size, never a small one a copy made.
    if (this.#spares.length < 8 && reply.pack.byteLength >= this.#bufferSize)
      this.#spares.push(reply.pack)
    const next = this.#queue.shift()
    if (next === undefined) this.#idle.push(worker)
    else worker.postMessage(next, [next.pack])
    const waiting = this.#pending.get(reply.job)
    this.#pending.delete(reply.job)
    const f = reply.failure
    if (f === undefined) waiting?.resolve()
    else if (f.kind === 'integrity') waiting?.reject(new IntegrityError(f.object, f.reason))
    else if (f.kind === 'fs')
      waiting?.reject(
        Object.assign(new Error(f.message), { code: f.code, syscall: f.syscall, path: f.path }),
      )
    else waiting?.reject(new Error(f.message))
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()))
  }
}
