import { promises as fs } from 'node:fs'
import path from 'node:path'
import { writeFileDurable } from '../../fs/durable.js'
import type { AgentState, QueuedObject } from './state.js'
import { QUICK, retrying, type Backoff } from '../../store/retry.js'
import { StoreUnavailable, type Store } from '../../store/store.js'

// Where finished objects go: straight to the store while it answers, else to the local spool
// (already encrypted, fsynced, listed in the state's queue). Once one object is queued, every
// later one queues behind it, so the store always receives packs before the index that lists
// them and the index before the snapshot that needs it. `drain` uploads the queue in order.
export class Outbox {
  offlineReason: string | undefined
  uploadedBytes = 0
  uploads = 0

  constructor(
    readonly store: Store,
    readonly state: AgentState,
    readonly spoolDir: string,
    readonly backoff: Backoff = QUICK,
  ) {}

  get online(): boolean {
    return this.offlineReason === undefined
  }

  goOffline(reason: string): void {
    this.offlineReason ??= reason
  }

  async place(
    name: string,
    kind: QueuedObject['kind'],
    bytes: Uint8Array,
  ): Promise<'stored' | 'queued'> {
    if (this.online && this.state.queue().length === 0) {
      try {
        await retrying(() => this.store.put(name, bytes), this.backoff)
        this.uploads++
        this.uploadedBytes += bytes.length
        return 'stored'
      } catch (error) {
        if (!(error instanceof StoreUnavailable)) throw error
        this.goOffline(error.message)
      }
    }
    await this.#spool(name, bytes)
    this.state.enqueue(name, kind, bytes.length)
    return 'queued'
  }

  #spoolFile(name: string): string {
    return path.join(this.spoolDir, name.replaceAll('/', '_'))
  }

  async #spool(name: string, bytes: Uint8Array): Promise<void> {
    await writeFileDurable(this.#spoolFile(name), bytes)
  }

  // Uploads the queue in order; true when it is empty. Stops at the first object the store
  // does not take, leaving it and everything after it queued.
  async drain(backoff: Backoff = this.backoff): Promise<boolean> {
    for (const item of this.state.queue()) {
      const file = this.#spoolFile(item.name)
      const bytes = await fs.readFile(file)
      try {
        await retrying(() => this.store.put(item.name, bytes), backoff)
      } catch (error) {
        if (!(error instanceof StoreUnavailable)) throw error
        this.goOffline(error.message)
        return false
      }
      this.uploads++
      this.uploadedBytes += bytes.length
      this.state.dequeue(item.name)
      await fs.rm(file, { force: true })
    }
    this.offlineReason = undefined
    return true
  }

  // Spool files without a queue row: written by a pass that crashed before recording them.
  async removeStrays(): Promise<void> {
    const queued = new Set(this.state.queue().map((q) => path.basename(this.#spoolFile(q.name))))
    const names = await fs.readdir(this.spoolDir).catch(() => [] as string[])
    await Promise.all(
      names
        .filter((n) => !queued.has(n))
        .map((n) => fs.rm(path.join(this.spoolDir, n), { force: true })),
    )
  }
}
