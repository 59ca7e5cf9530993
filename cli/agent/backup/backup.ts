import { lstatSync } from 'node:fs'
import { hostname } from 'node:os'
import { UserError } from '../../errors.js'
import { chunkId } from '../repository/crypto/repository-keys.js'
import { sealBlob, type SealedBlob } from '../repository/format/blob.js'
import type { Entry } from '../repository/format/manifest.js'
import { BlobKind, PackBuilder, type BlobEntry } from '../repository/format/pack.js'
import { encodeSnapshot, encodeTreeList, type Snapshot } from '../repository/format/snapshot-object.js'
import { encodeIndex } from '../repository/format/index-object.js'
import type { Agent } from '../home/agent-home.js'
import { queueAuditEvent } from '../home/audit-queue.js'
import { Lease } from '../repository/lease.js'
import { indexName, packName, sha256hex, sha256hexAsync, snapshotName } from '../repository/repository.js'
import { manifestPath, scan, type Scanned, type ScannedFile } from './scan.js'
import type { FileRow } from '../home/state.js'
import { StoreUnavailable } from '../../store/store.js'
import { syncIndexes } from './sync-index.js'
import { treeBlobs } from '../repository/tree-blobs.js'
import { ChunkPool } from '../workers/worker-pool.js'
import { REF_FIELDS } from '../workers/worker-protocol.js'

// One backup pass: scan, read only what changed, pack and store the new chunks, then the index,
// then the snapshot (the commit order packs → index → snapshot). If the store stops answering,
// the pass goes on into the local spool and the snapshot is queued, never lost.
// Over 300 lines: the pass and its commit order are kept in one file, read in one place.
export interface BackupOptions {
  paths: string[]
  host?: string
  // Pack uploads in flight, 2 by default: with one pack filling, that keeps the link busy and
  // holds three 8 MiB packs in memory; each more costs 8 MiB for no speed on a fast link.
  uploads?: number
}

export interface BackupResult {
  snapshot: string
  entries: Entry[] // the manifest (a two-way folder merges it)
  queued: boolean
  offlineReason?: string
  stats: Snapshot['stats'] & {
    readFiles: number
    readBytes: number
    uploads: number
    uploadedBytes: number
  }
  skipped: string[]
}

// Whether the store answers, at the start of a pass: two quick tries, not the full backoff.
const PROBE = { baseMs: 100, capMs: 1_000, attempts: 2 }
const BATCH_FILES = 256
const BATCH_BYTES = 4 * 1024 * 1024

const sameFile = (row: FileRow, f: ScannedFile) =>
  row.size === f.stat.size &&
  row.mtimeNs === f.stat.mtimeNs &&
  row.ctimeNs === f.stat.ctimeNs &&
  row.inode === f.stat.ino

export async function backup(agent: Agent, options: BackupOptions): Promise<BackupResult> {
  // A mistyped path must not become an empty snapshot that looks like a good backup.
  const missing = options.paths.filter((p) => lstatSync(p, { throwIfNoEntry: false }) === undefined)
  if (missing.length > 0)
    throw new UserError(`${missing.join(', ')}: no such file or directory`, {
      hint: 'name paths that exist; nothing was backed up',
    })
  const { repo, state, outbox } = agent
  const host = options.host ?? agent.settings.label ?? hostname()
  let lease: Lease | undefined
  outbox.offlineReason = undefined // each pass tries the store again
  outbox.uploads = 0
  outbox.uploadedBytes = 0
  try {
    if (state.queue().length > 0 && !(await outbox.drain(PROBE)))
      throw new StoreUnavailable(outbox.offlineReason ?? 'store unavailable')
    lease = await Lease.shared(repo, host)
    await syncIndexes(repo, state)
  } catch (error) {
    if (!(error instanceof StoreUnavailable)) {
      await lease?.release()
      throw error
    }
    outbox.goOffline(error.message)
  }
  try {
    return await pass(agent, options, host)
  } finally {
    await lease?.release()
  }
}

async function pass(agent: Agent, options: BackupOptions, host: string): Promise<BackupResult> {
  const { repo, state, outbox } = agent
  // A snapshot is dated when its scan began: it holds nothing newer than that.
  const started = new Date()
  const { entries: scanned, skipped } = scan(options.paths)
  const chunksOf = new Map<string, Uint8Array[]>() // absolute path → chunk ids
  const sizeOf = new Map<string, number>() // bytes actually read, for files read this pass
  const toRead: ScannedFile[] = []
  const index = state.allFiles()
  const checkChunks = !state.filesChecked()
  for (const entry of scanned) {
    if (entry.type !== 'file') continue
    const row = index.get(entry.path)
    const ids = row === undefined ? [] : split(row.chunks)
    if (
      row !== undefined &&
      sameFile(row, entry) &&
      (!checkChunks || ids.every((id) => state.hasBlob(id)))
    )
      chunksOf.set(entry.path, ids)
    else toRead.push(entry)
  }
  index.clear()

  const packer = new Packer(agent, options.uploads ?? 2)
  let readBytes = 0
  const failed = new Set<string>()
  if (toRead.length > 0) {
    const pool = new ChunkPool(
      repo.keys,
      repo.parameters.chunker,
      agent.settings.compression !== false,
      16 * 1024 * 1024,
    )
    try {
      const tasks = new Map<number, string[]>()
      let batch: string[] = []
      let batchBytes = 0
      const submit = () => {
        if (batch.length > 0) tasks.set(pool.submit(batch), batch)
        batch = []
        batchBytes = 0
      }
      for (const f of toRead) {
        const size = f.stat.size
        if (size >= BATCH_BYTES) {
          submit()
          batch = [f.path]
          submit()
          continue
        }
        batch.push(f.path)
        batchBytes += size
        if (batch.length >= BATCH_FILES || batchBytes >= BATCH_BYTES) submit()
      }
      submit()
      let open = tasks.size
      while (open > 0) {
        const reply = await pool.next()
        if (reply.type === 'task-done') {
          open--
          continue
        }
        const files = tasks.get(reply.task)!
        const bytes = Buffer.from(reply.bytes)
        const { refs } = reply
        const blobs: SealedBlob[] = []
        let consumed = 0
        let r = 0
        for (const news of reply.files) {
          const file = files[news.file]!
          const ids = chunksOf.get(file) ?? []
          for (let k = 0; k < news.blobs; k++, r += REF_FIELDS) {
            const at = refs[r]!
            const length = refs[r + 1]!
            const id = bytes.subarray(at, at + 32)
            blobs.push({
              id,
              kind: BlobKind.data,
              compressed: refs[r + 3] === 1,
              rawLength: refs[r + 2]!,
              sealed: bytes.subarray(at + 32, at + 32 + length),
            })
            ids.push(Buffer.from(id)) // a copy: the reply's buffer is dropped once packed
            consumed += 32 + length
          }
          chunksOf.set(file, ids)
          if (news.error !== undefined) {
            failed.add(file)
            skipped.push(`${file}: ${news.error}`)
          } else if (news.size !== undefined) {
            readBytes += news.size
            sizeOf.set(file, news.size)
          }
        }
        await packer.addAll(blobs, 'data')
        pool.consumed(reply, consumed)
      }
    } finally {
      await pool.close()
    }
  }
  await packer.flush('data')

  // The manifest, as tree blobs in packs of their own (verify reads them without the data).
  const entries = toEntries(
    scanned.filter((e) => !failed.has(e.path)),
    chunksOf,
    sizeOf,
  )
  const key = `last-snapshot:${JSON.stringify([host, [...options.paths].map((p) => manifestPath(p)).sort()])}`
  const parent = state.meta(key)
  const { name, placed, snapshot } = await commitSnapshot(agent, packer, entries, {
    time: started,
    host,
    paths: options.paths,
    ...(parent !== undefined && { parent }),
  })

  // Only now does the file index learn the new chunk lists: they are all stored or queued.
  state.transaction(() => {
    // Rows of the files read this pass; the others' rows are unchanged.
    state.putFiles(
      toRead.flatMap((e): [string, FileRow][] =>
        !failed.has(e.path)
          ? [
              [
                e.path,
                {
                  size: sizeOf.get(e.path) ?? e.stat.size,
                  mtimeNs: e.stat.mtimeNs,
                  ctimeNs: e.stat.ctimeNs,
                  inode: e.stat.ino,
                  chunks: Buffer.concat(chunksOf.get(e.path) ?? []),
                },
              ],
            ]
          : [],
      ),
    )
    state.setMeta(key, name)
    state.setMeta('files-checked', 'yes')
    if (placed !== 'queued') {
      state.setMeta('last-success', snapshot.time)
      queueAuditEvent(state, {
        type: 'snapshot-published',
        detail: name.slice('snapshots/'.length),
      })
    }
    state.setMeta(
      'last-pass',
      JSON.stringify({
        time: snapshot.time,
        snapshot: name,
        queued: placed === 'queued',
        stats: snapshot.stats,
      }),
    )
  })
  return {
    snapshot: name,
    entries,
    queued: placed === 'queued',
    ...(outbox.offlineReason !== undefined && { offlineReason: outbox.offlineReason }),
    stats: {
      ...snapshot.stats,
      readFiles: toRead.length - failed.size,
      readBytes,
      uploads: outbox.uploads,
      uploadedBytes: outbox.uploadedBytes,
    },
    skipped,
  }
}

// The commit of a pass, and of a two-way folder's merged state: the manifest as tree blobs and
// their tree list, in packs of their own (verify reads them without the data), then an index
// of every blob stored but not indexed yet (this pass's and any a crashed pass left), then the
// snapshot.
export async function commitSnapshot(
  agent: Agent,
  packer: Packer,
  entries: readonly Entry[],
  options: { time: Date; host: string; paths: readonly string[]; parent?: string },
): Promise<{ name: string; placed: 'stored' | 'queued'; snapshot: Snapshot }> {
  const { repo, state, outbox } = agent
  // An unchanged part of the tree is already stored: no need to compress and seal it again.
  const storeTree = async (plaintext: Buffer) => {
    const id = chunkId(repo.keys.id, plaintext)
    if (!packer.has(id))
      await packer.addAll([sealBlob(repo.keys, plaintext, BlobKind.tree, true)], 'tree')
    return id
  }
  const ids: Buffer[] = []
  for (const plaintext of treeBlobs(entries, repo.keys.gear)) ids.push(await storeTree(plaintext))
  const root = (await storeTree(encodeTreeList(ids))).toString('hex')
  await packer.flush('tree')
  await packer.settled()

  const unindexed = state.unindexedPacks()
  if (unindexed.size > 0) {
    const bytes = encodeIndex(
      repo.keys.seal,
      [...unindexed].map(([pack, list]) => ({ pack, entries: list })),
    )
    const name = indexName(sha256hex(bytes))
    await outbox.place(name, 'index', bytes)
    state.markIndexed(unindexed.keys(), name)
  }

  const files = entries.filter((e) => e.type === 'file')
  const snapshot: Snapshot = {
    version: 2,
    time: options.time.toISOString(),
    host: options.host,
    paths: [...new Set(options.paths.map((p) => '/' + manifestPath(p)))].sort(),
    ...(options.parent !== undefined && { parent: options.parent }),
    root,
    stats: {
      files: files.length,
      dirs: entries.filter((e) => e.type === 'dir').length,
      bytes: files.reduce((n, f) => n + f.size, 0),
      addedBytes: packer.bytes,
    },
  }
  const bytes = encodeSnapshot(repo.keys.seal, snapshot)
  const name = snapshotName(sha256hex(bytes))
  const placed = await outbox.place(name, 'snapshot', bytes)
  return { name, placed, snapshot }
}

const split = (chunks: Buffer) => {
  const ids: Uint8Array[] = []
  for (let i = 0; i + 32 <= chunks.length; i += 32) ids.push(chunks.subarray(i, i + 32))
  return ids
}

function toEntries(
  scanned: Scanned[],
  chunksOf: Map<string, Uint8Array[]>,
  sizeOf: Map<string, number>,
): Entry[] {
  // Object literals of one shape each, not spreads: this runs once per file of every pass.
  return scanned.map((e): Entry => {
    const path = manifestPath(e.path)
    const mode = e.stat.mode & 0o7777
    const uid = e.stat.uid
    const gid = e.stat.gid
    const mtimeNs = e.stat.mtimeNs
    if (e.type === 'file') {
      const size = sizeOf.get(e.path) ?? e.stat.size
      const chunks = chunksOf.get(e.path) ?? []
      return { type: 'file', path, mode, uid, gid, mtimeNs, size, chunks }
    }
    if (e.type === 'symlink')
      return { type: 'symlink', path, mode, uid, gid, mtimeNs, target: e.target }
    return { type: 'dir', path, mode, uid, gid, mtimeNs }
  })
}

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
