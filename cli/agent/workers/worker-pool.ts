import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads'
import type { ChunkSizes } from '../repository/chunker.js'
import type { RepositoryKeys } from '../repository/crypto/repository-keys.js'
import type { WorkerInit, WorkerReply, WorkerTask } from './worker-protocol.js'

// A bundled worker sits in dist/cli/agent/workers/ while this code runs from a shared chunk in
// dist/cli/chunks/ (scripts/build-cli.mjs); from the sources both sit in cli/agent/workers/.
export function workerFile(name: 'chunk-worker' | 'restore-worker'): string {
  for (const candidate of [`../agent/workers/${name}.js`, `./${name}.js`]) {
    const file = fileURLToPath(new URL(candidate, import.meta.url))
    if (existsSync(file)) return file
  }
  throw new Error(`${name}.js is missing next to the CLI bundle; run \`npm run build\``)
}

// A worker's objects are few and short-lived (one batch's or one pack's); a small young
// generation is collected often and cheaply, where V8's default lets each thread grow tens of
// MiB before its first collection.
export const WORKER_LIMITS = { maxYoungGenerationSizeMb: 2 }

// Chunk workers, one per core, fed batches of files. Replies arrive in one queue that the
// backup pass drains at its own pace; `consumed` tells the workers memory was freed.
export class ChunkPool {
  readonly #workers: Worker[] = []
  readonly #idle: Worker[] = []
  readonly #tasks: WorkerTask[] = []
  readonly #replies: WorkerReply[] = []
  readonly #inFlight: Int32Array
  readonly #spares = new Map<Worker, MessagePort>()
  readonly #origin = new WeakMap<ArrayBuffer, MessagePort>() // a reply buffer → its worker's port
  #wake: (() => void) | undefined
  #failure: Error | undefined
  #nextId = 0

  constructor(
    keys: RepositoryKeys,
    sizes: ChunkSizes,
    compression: boolean,
    limit = 64 * 1024 * 1024,
    count = availableParallelism(),
  ) {
    const shared = new SharedArrayBuffer(4)
    this.#inFlight = new Int32Array(shared)
    const file = workerFile('chunk-worker')
    for (let i = 0; i < Math.max(1, count); i++) {
      const { port1, port2 } = new MessageChannel()
      const init: WorkerInit = {
        seal: keys.seal,
        id: keys.id,
        gear: keys.gear,
        sizes,
        compression,
        inFlight: shared,
        limit,
        spares: port2,
      }
      const worker = new Worker(file, {
        workerData: init,
        transferList: [port2],
        resourceLimits: WORKER_LIMITS,
      })
      this.#spares.set(worker, port1)
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'files') this.#origin.set(reply.bytes, port1)
        this.#replies.push(reply)
        if (reply.type === 'task-done') this.#release(worker)
        this.#notify()
      })
      worker.on('error', (error) => {
        this.#failure = error
        this.#notify()
      })
      this.#workers.push(worker)
      this.#idle.push(worker)
    }
  }

  #notify(): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  #release(worker: Worker): void {
    const task = this.#tasks.shift()
    if (task === undefined) this.#idle.push(worker)
    else worker.postMessage(task)
  }

  // Queues one batch of files; returns its id, which every reply about it carries.
  submit(files: string[]): number {
    const task: WorkerTask = { id: this.#nextId++, files: files.join('\0') }
    const worker = this.#idle.pop()
    if (worker === undefined) this.#tasks.push(task)
    else worker.postMessage(task)
    return task.id
  }

  // The next reply, waiting for one if needed.
  async next(): Promise<WorkerReply> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure
      const reply = this.#replies.shift()
      if (reply !== undefined) return reply
      await new Promise<void>((resolve) => (this.#wake = resolve))
    }
  }

  // The reply's blobs are packed: its bytes no longer count against the limit, and its buffer
  // goes back to its worker. Every view into it is detached from here on.
  consumed(reply: Extract<WorkerReply, { type: 'files' }>, bytes: number): void {
    Atomics.sub(this.#inFlight, 0, bytes)
    Atomics.notify(this.#inFlight, 0)
    const port = this.#origin.get(reply.bytes)
    if (port !== undefined && reply.bytes.byteLength > 0)
      port.postMessage(reply.bytes, [reply.bytes])
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()))
    for (const port of this.#spares.values()) port.close()
  }
}
