import type { SealedBlob } from '../repository/format/blob.js'
import { PackBuilder, type BlobEntry } from '../repository/format/pack.js'
import type { Agent } from '../home/agent-home.js'
import { packName, sha256hexAsync } from '../repository/repository.js'

// Deduplicates blobs and packs the new ones; a full pack goes to the outbox while the next one
// fills, with at most `uploads` in flight. A pack's blobs become known (state) once it is stored
// or queued, never before.
export class Packer {
  readonly #pending = new Set<string>() // ids in a pack not yet durable
  readonly #builders: Record<'data' | 'tree', PackBuilder>
  readonly #inFlight = new Set<Promise<void>>()
  // Buffers of data packs whose upload is over, for the next packs: a pass reuses a few instead
  // of allocating one per pack (the allocator would keep every one it ever handed out).
  readonly #spareBuffers: Buffer[] = []
  #failure: unknown
  bytes = 0

  constructor(
    readonly agent: Agent,
    readonly uploads: number,
  ) {
    this.#builders = { data: this.#newBuilder(), tree: new PackBuilder() }
  }

  // Room for a full pack and the largest chunk that can overflow it, so it never grows.
  #newBuilder(): PackBuilder {
    return new PackBuilder(this.#spareBuffers.pop() ?? this.#capacity)
  }

  get #capacity(): number {
    const { packSize, chunker } = this.agent.repo.parameters
    return packSize + chunker.max + 64 * 1024
  }

  has(id: Uint8Array): boolean {
    return this.#pending.has(Buffer.from(id).toString('hex')) || this.agent.state.hasBlob(id)
  }

  // Adds the blobs not stored yet; what the repository holds is asked in one query per batch.
  async addAll(blobs: readonly SealedBlob[], kind: 'data' | 'tree'): Promise<void> {
    const known = this.agent.state.knownBlobs(blobs.map((b) => b.id))
    for (const blob of blobs) {
      const hex = Buffer.from(blob.id).toString('hex')
      if (known.has(hex) || this.#pending.has(hex)) continue
      this.#pending.add(hex)
      const builder = this.#builders[kind]
      builder.add(
        { id: blob.id, kind: blob.kind, compressed: blob.compressed, rawLength: blob.rawLength },
        blob.sealed,
      )
      if (builder.size >= this.agent.repo.parameters.packSize) await this.flush(kind)
    }
  }

  async flush(kind: 'data' | 'tree'): Promise<void> {
    const builder = this.#builders[kind]
    if (builder.count === 0) return
    this.#builders[kind] = kind === 'data' ? this.#newBuilder() : new PackBuilder()
    const bytes = builder.finish(this.agent.repo.keys.seal)
    const id = await sha256hexAsync(bytes)
    this.bytes += bytes.length
    const upload = this.#store(id, bytes, builder.entries).finally(() => {
      this.#inFlight.delete(upload)
      if (kind === 'data' && bytes.buffer.byteLength === this.#capacity)
        this.#spareBuffers.push(Buffer.from(bytes.buffer))
    })
    this.#inFlight.add(upload)
    while (this.#inFlight.size >= this.uploads) await Promise.race(this.#inFlight)
    if (this.#failure !== undefined) throw this.#failure
  }

  async #store(id: string, bytes: Buffer, entries: BlobEntry[]): Promise<void> {
    try {
      await this.agent.outbox.place(packName(id), 'pack', bytes)
      this.agent.state.addStoredPack(id, entries)
      for (const e of entries) this.#pending.delete(Buffer.from(e.id).toString('hex'))
    } catch (error) {
      this.#failure ??= error
    }
  }

  async settled(): Promise<void> {
    await Promise.all(this.#inFlight)
    if (this.#failure !== undefined) throw this.#failure
  }
}
