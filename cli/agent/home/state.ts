import Database from 'better-sqlite3'
import type { BlobEntry, BlobKind } from '../repository/format/pack.js'

// The agent's local state, one SQLite file (WAL, synchronous=FULL: a committed transaction
// survives a power cut). It holds:
// - files: the file index, (path, size, mtime, ctime, inode) → chunk ids, so an unchanged file
//   is never read again and costs no request to the store;
// - blobs: every blob the repository is known to hold, from its indexes or from packs this
//   device stored but has not indexed yet (after a crash), so nothing stored is uploaded twice;
// - queue: objects written to the local spool while the store was unreachable, uploaded in
//   order (packs → index → snapshot) when it returns.
export interface FileRow {
  size: number
  mtimeNs: bigint
  ctimeNs: bigint
  inode: bigint
  chunks: Buffer // concatenated 32-byte ids
}

export interface QueuedObject {
  seq: number
  name: string
  kind: 'pack' | 'index' | 'snapshot'
  bytes: number
}

const SCHEMA = `
create table if not exists meta (key text primary key, value text not null);
create table if not exists files (
  path text primary key, size integer not null, mtime_ns integer not null,
  ctime_ns integer not null, inode integer not null, chunks blob not null);
create table if not exists blobs (
  id blob primary key, pack text not null, kind integer not null, compressed integer not null,
  offset integer not null, length integer not null, raw_length integer not null,
  indexed integer not null);
create index if not exists blobs_unindexed on blobs (indexed) where indexed = 0;
create table if not exists seen_indexes (name text primary key);
create table if not exists queue (
  seq integer primary key autoincrement, name text not null unique, kind text not null,
  bytes integer not null);
`

export class AgentState {
  readonly db: Database.Database
  readonly #putFile
  readonly #getFile
  readonly #getBlob
  readonly #putBlob
  readonly #knownBlobs

  constructor(file: string) {
    this.db = new Database(file)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL')
    this.db.exec(SCHEMA)
    this.#putFile = this.db.prepare(
      'insert or replace into files (path, size, mtime_ns, ctime_ns, inode, chunks) values (?, ?, ?, ?, ?, ?)',
    )
    this.#getFile = this.db
      .prepare('select size, mtime_ns, ctime_ns, inode, chunks from files where path = ?')
      .safeIntegers(true)
      .raw(true)
    this.#getBlob = this.db.prepare('select pack from blobs where id = ?')
    this.#knownBlobs = this.db
      .prepare('select id from blobs where id in (select unhex(value) from json_each(?))')
      .pluck()
    this.#putBlob = this.db.prepare(
      'insert or ignore into blobs (id, pack, kind, compressed, offset, length, raw_length, indexed) values (?, ?, ?, ?, ?, ?, ?, ?)',
    )
  }

  close(): void {
    this.db.close()
  }

  meta(key: string): string | undefined {
    return (
      this.db.prepare('select value from meta where key = ?').get(key) as
        { value: string } | undefined
    )?.value
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('insert or replace into meta (key, value) values (?, ?)').run(key, value)
  }

  // One row at a time, by its primary key, rather than the whole table in a Map: at 200,000
  // files the Map was 130 MiB of heap, and a lookup costs a couple of microseconds.
  fileRow(path: string): FileRow | undefined {
    const row = this.#getFile.get(path) as [bigint, bigint, bigint, bigint, Buffer] | undefined
    if (row === undefined) return undefined
    const [size, mtimeNs, ctimeNs, inode, chunks] = row
    return { size: Number(size), mtimeNs, ctimeNs, inode, chunks }
  }

  // All file rows of one pass, in one transaction.
  putFiles(rows: Iterable<[string, FileRow]>): void {
    this.db.transaction(() => {
      for (const [path, r] of rows)
        this.#putFile.run(path, r.size, r.mtimeNs, r.ctimeNs, r.inode, r.chunks)
    })()
  }

  forgetFiles(): void {
    this.db.exec('delete from files')
  }

  hasBlob(id: Uint8Array): boolean {
    return this.#getBlob.get(id) !== undefined
  }

  // Which of `ids` the repository holds (hex), in one query: a point query per blob costs more
  // than the rest of packing it. (unhex() is SQLite 3.41; better-sqlite3 bundles a newer one.)
  knownBlobs(ids: readonly Uint8Array[]): Set<string> {
    if (ids.length === 0) return new Set()
    const hex = ids.map((id) => Buffer.from(id).toString('hex'))
    const found = this.#knownBlobs.all(JSON.stringify(hex)) as Buffer[]
    return new Set(found.map((id) => id.toString('hex')))
  }

  // Blobs of a pack that is now durable (in the store or the spool), not yet in any index.
  addStoredPack(pack: string, entries: readonly BlobEntry[]): void {
    this.db.transaction(() => {
      for (const e of entries)
        this.#putBlob.run(
          e.id,
          pack,
          e.kind,
          e.compressed ? 1 : 0,
          e.offset,
          e.length,
          e.rawLength,
          0,
        )
    })()
  }

  // Blobs read from an index object of the repository (this device's or another's).
  addIndexed(
    indexName: string,
    packs: readonly { pack: string; entries: readonly BlobEntry[] }[],
  ): void {
    this.db.transaction(() => {
      for (const p of packs) {
        for (const e of p.entries)
          this.#putBlob.run(
            e.id,
            p.pack,
            e.kind,
            e.compressed ? 1 : 0,
            e.offset,
            e.length,
            e.rawLength,
            1,
          )
      }
      this.db.prepare('insert or ignore into seen_indexes (name) values (?)').run(indexName)
      this.db
        .prepare(
          'update blobs set indexed = 1 where indexed = 0 and pack in (select value from json_each(?))',
        )
        .run(JSON.stringify(packs.map((p) => p.pack)))
    })()
  }

  seenIndexes(): Set<string> {
    return new Set(
      (this.db.prepare('select name from seen_indexes').all() as { name: string }[]).map(
        (r) => r.name,
      ),
    )
  }

  // The repository's indexes changed under us (a prune): forget what they said. Unindexed blobs
  // of this device stay; a file whose chunks are no longer all known is read again.
  forgetIndexes(): void {
    this.db.transaction(() => {
      this.db.exec('delete from blobs where indexed = 1; delete from seen_indexes')
      this.setMeta('files-checked', 'no')
    })()
  }

  // Whether every chunk the file index names is known to be stored. True after a pass; false
  // after the indexes changed under us, until a pass has checked each reused file's chunks.
  filesChecked(): boolean {
    return this.meta('files-checked') !== 'no'
  }

  unindexedPacks(): Map<string, BlobEntry[]> {
    // Row by row, as arrays: after a first pass of 200,000 files, .all() made 200,000 row objects
    // beside the entries built from them (50 MiB of heap at once).
    const rows = this.db
      .prepare(
        'select id, pack, kind, compressed, offset, length, raw_length from blobs where indexed = 0 order by pack, offset',
      )
      .raw(true)
      .iterate() as IterableIterator<[Buffer, string, BlobKind, number, number, number, number]>
    const packs = new Map<string, BlobEntry[]>()
    let list: BlobEntry[] = []
    let current: string | undefined
    for (const [id, pack, kind, compressed, offset, length, rawLength] of rows) {
      if (pack !== current) {
        current = pack
        list = []
        packs.set(pack, list)
      }
      list.push({ id, kind, compressed: compressed === 1, offset, length, rawLength })
    }
    return packs
  }

  markIndexed(packs: Iterable<string>, indexName?: string): void {
    this.db.transaction(() => {
      const mark = this.db.prepare('update blobs set indexed = 1 where pack = ?')
      for (const pack of packs) mark.run(pack)
      if (indexName !== undefined)
        this.db.prepare('insert or ignore into seen_indexes (name) values (?)').run(indexName)
    })()
  }

  enqueue(name: string, kind: QueuedObject['kind'], bytes: number): void {
    this.db
      .prepare('insert or ignore into queue (name, kind, bytes) values (?, ?, ?)')
      .run(name, kind, bytes)
  }

  queue(): QueuedObject[] {
    return this.db
      .prepare('select seq, name, kind, bytes from queue order by seq')
      .all() as QueuedObject[]
  }

  dequeue(name: string): void {
    this.db.prepare('delete from queue where name = ?').run(name)
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }
}
