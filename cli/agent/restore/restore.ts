import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  existsSync,
  promises as fs,
  fsyncSync,
  ftruncateSync,
  lchownSync,
  lutimesSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
} from 'node:fs'
import path from 'node:path'
import { UserError } from '../../errors.js'
import { ExitCode } from '../../exit-codes.js'
import { IntegrityError } from '../repository/crypto/integrity-error.js'
import { ObjectMissing } from '../../store/store.js'
import { Catalog, loadManifest, type Located } from '../repository/catalog.js'
import type { Entry } from '../repository/format/manifest.js'
import { packName, type Repository } from '../repository/repository.js'
import { RestorePool } from '../workers/restore-pool.js'
import type { ListedSnapshot } from '../repository/snapshots.js'
import type { FileMetadata, Placement } from '../workers/worker-protocol.js'
import { syncFileSystem } from './flush-file-system.js'
import { restoringName } from '../workers/restoring-name.js'

// Restores a snapshot (or one path of it) under a target directory, pack by pack: each pack is
// downloaded once, checked (its SHA-256, then every blob's tag and id) and its blobs written
// wherever files need them. A file of one chunk (most files) is finished by the worker that
// writes it; the metadata of every other entry (modes, owners when root, times) is set last,
// directories deepest first, so writing into them does not change their times again.
export interface RestoreOptions {
  target: string
  include?: string // a path inside the snapshot
  overwrite?: boolean
  // Leave a file whose data could not be read and verified as `<name>.partial`, not remove it.
  keepPartial?: boolean
  downloads?: number
}

// Files whose data the store could not give back intact (a damaged or missing pack): every other
// file is restored; these are not, and what was at their paths before is as it was.
export class RestoreIncomplete extends UserError {
  constructor(
    readonly files: string[],
    readonly objects: string[],
    reason: string,
    keepPartial: boolean,
  ) {
    const shown = files.length > 10 ? [...files.slice(0, 10), `… (${files.length} in all)`] : files
    super(
      `${files.length} file${files.length === 1 ? '' : 's'} not restored: ${shown.join(', ')} — ${reason}`,
      {
        exitCode: ExitCode.integrity,
        hint: keepPartial
          ? 'what could be read of each is beside it as <name>.partial; `keystone agent verify --read-data` lists every damaged object'
          : 'the rest is restored; `keystone agent verify --read-data` lists every damaged object (--keep-partial keeps what can be read)',
      },
    )
    this.name = 'RestoreIncomplete'
  }
}

export interface RestoreResult {
  files: number
  dirs: number
  symlinks: number
  bytes: number
}

export async function restore(
  repo: Repository,
  listed: ListedSnapshot,
  options: RestoreOptions,
): Promise<RestoreResult> {
  try {
    return await restoreInto(repo, listed, options)
  } catch (error) {
    // A target that is read-only or full: one line, not an internal error.
    const e = error as NodeJS.ErrnoException
    if (e.syscall === undefined || e.code === undefined) throw error
    throw new UserError(`cannot write ${e.path ?? options.target}: ${e.code}`, {
      hint: `the target must be writable with room for the snapshot; what was restored so far is in ${options.target}`,
    })
  }
}

async function restoreInto(
  repo: Repository,
  listed: ListedSnapshot,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const target = path.resolve(options.target)
  await checkTarget(target, options.overwrite === true)
  const catalog = await Catalog.load(repo)
  const manifest = await loadManifest(repo, catalog, listed.name, listed.snapshot)
  const include = options.include?.replace(/^\/+|\/+$/g, '')
  const entries = manifest.filter(
    (e) =>
      include === undefined ||
      include === '' ||
      e.path === include ||
      e.path.startsWith(include + '/'),
  )
  if (entries.length === 0)
    throw new UserError(`${options.include} is not in snapshot ${listed.id.slice(0, 8)}`)

  // Manifest paths are relative and normal (decodeManifest refuses any other), so a plain join
  // will do: path.join builds each path from a chain of pieces, ten strings a file kept alive by
  // every placement (5 MiB of heap for 20,000 files).
  const base = target.endsWith('/') ? target : target + '/'
  const where = (e: Entry) => base + e.path
  // Each file is written under a temporary name beside its real one, and renamed only once every
  // chunk of it was read and verified: a damaged store never leaves a wrong file under a real
  // name, nor replaces one that was there.
  const names = { base, run: randomBytes(4).toString('hex') }
  const temporary = (e: Entry) => restoringName(names, e.path)
  // Keyed by the catalog's own objects, not by hex ids: no second string per blob.
  const placesOf = new Map<Located, Placement[]>() // a blob → where it is written
  const byPack = new Map<string, Located[]>()
  const files = entries.filter((e) => e.type === 'file')
  let bytes = 0
  const dirs = new Set(entries.map((e) => (e.type === 'dir' ? where(e) : path.dirname(where(e)))))
  for (const dir of dirs) mkdirSync(dir, { recursive: true, mode: 0o700 })
  // Tried once up front, on the target itself: where it works, one flush before the renames
  // replaces an fsync per file.
  const flushOnce = syncFileSystem(target)
  const asRoot = process.getuid?.() === 0
  let settled = 0 // files[0, settled) have their real names, or were removed as not restored
  try {
    for (const e of files) {
      bytes += e.size
      if (e.chunks.length !== 1) {
        // Empty, or written chunk by chunk at offsets: created at its full size first.
        const fd = openSync(temporary(e), 'w', 0o600)
        ftruncateSync(fd, e.size)
        closeSync(fd)
      }
      let offset = 0
      for (const id of e.chunks) {
        const located = catalog.locate(id, listed.name)
        const place: Placement = { path: e.path, offset }
        if (e.chunks.length === 1) place.whole = wholeFileMetadata(e, asRoot)
        const places = placesOf.get(located)
        if (places === undefined) {
          // Made with its first place: an empty array pushed to reserves room for 17.
          placesOf.set(located, [place])
          const list = byPack.get(located.pack)
          if (list === undefined) byPack.set(located.pack, [located])
          else list.push(located)
        } else places.push(place)
        offset += located.entry.rawLength
      }
    }

    // Downloads run ahead of the workers, so the network and the disk are busy at once; each
    // fetcher holds one pack at a time, so at most `downloads` packs are in memory. A pack that
    // is damaged or missing costs the files that need it, not the restore; any other failure
    // (the store unreachable, the target full) ends it.
    const packs = [...byPack.keys()]
    const { packSize, chunker } = repo.parameters
    const pool = new RestorePool(
      { seal: repo.keys.seal, names, fsyncEach: !flushOnce },
      packSize + chunker.max + 64 * 1024,
    )
    const lost = new Map<string, IntegrityError>()
    let failure: unknown
    const fetcher = async () => {
      for (
        let pack = packs.pop();
        pack !== undefined && failure === undefined;
        pack = packs.pop()
      ) {
        const object = packName(pack)
        try {
          const bytes = await repo.readSealed(object, pool.bufferFor)
          const blobs = byPack.get(pack)!.map((located) => ({
            id: Buffer.from(located.entry.id).toString('hex'),
            compressed: located.entry.compressed,
            offset: located.entry.offset,
            length: located.entry.length,
            rawLength: located.entry.rawLength,
            places: placesOf.get(located)!,
          }))
          await pool.run(object, bytes, blobs)
          // Done with: what is left to restore is what stays in memory.
          for (const located of byPack.get(pack)!) placesOf.delete(located)
        } catch (error) {
          if (error instanceof IntegrityError) lost.set(pack, error)
          else if (error instanceof ObjectMissing)
            lost.set(pack, new IntegrityError(object, 'no such object in the store'))
          else failure ??= error
        }
      }
    }
    try {
      await Promise.all(Array.from({ length: options.downloads ?? 3 }, fetcher))
    } finally {
      await pool.close()
    }
    if (failure !== undefined) throw failure
    if (flushOnce && !syncFileSystem(target))
      throw new UserError(`cannot flush the restored files in ${target} to disk (sync -f failed)`, {
        hint: 'check the file system of the target (dmesg); nothing was given its real name yet',
      })

    const damaged = (e: Entry & { type: 'file' }) =>
      lost.size > 0 && e.chunks.some((id) => lost.has(catalog.locate(id, listed.name).pack))
    const notRestored = new Set<Entry>()
    for (; settled < files.length; settled++) {
      const e = files[settled]!
      const real = where(e)
      const file = temporary(e)
      if (damaged(e)) {
        notRestored.add(e)
        // A one-chunk file whose blob failed was never written: nothing to keep.
        if (options.keepPartial === true && existsSync(file)) renameSync(file, `${real}.partial`)
        else rmSync(file, { force: true })
        continue
      }
      // Without syncfs, workers flushed the files they wrote whole; the others are flushed here.
      if (!flushOnce && e.chunks.length !== 1) {
        const fd = openSync(file, 'r')
        try {
          fsyncSync(fd)
        } finally {
          closeSync(fd)
        }
      }
      renameSync(file, real)
    }
    if (notRestored.size > 0) {
      // The directories, symlinks and other files are restored all the same, with their metadata.
      await finishTree(
        entries.filter((e) => !notRestored.has(e)),
        where,
      )
      const first = [...lost.values()][0]!
      const reason =
        lost.size === 1
          ? first.message
          : `${lost.size} objects damaged or missing, first ${first.message}`
      throw new RestoreIncomplete(
        [...notRestored].map((e) => e.path),
        [...lost.values()].map((error) => error.object),
        reason,
        options.keepPartial === true,
      )
    }
  } finally {
    // Whatever was not renamed (the restore failed) goes: no temporary file is left behind.
    for (let i = settled; i < files.length; i++) rmSync(temporary(files[i]!), { force: true })
  }
  await finishTree(entries, where)
  return {
    files: files.length,
    dirs: entries.filter((e) => e.type === 'dir').length,
    symlinks: entries.filter((e) => e.type === 'symlink').length,
    bytes,
  }
}

// Symlinks, then metadata: files before directories, deepest first, so that setting a
// directory's times is the last change inside it.
async function finishTree(entries: readonly Entry[], where: (e: Entry) => string): Promise<void> {
  for (const e of entries) {
    if (e.type !== 'symlink') continue
    await fs.mkdir(path.dirname(where(e)), { recursive: true, mode: 0o700 })
    await fs.rm(where(e), { force: true })
    await fs.symlink(e.target, where(e))
  }
  const asRoot = process.getuid?.() === 0
  // Files of one chunk were finished by the worker that wrote them.
  const ordered = entries
    .filter((e) => e.type !== 'file' || e.chunks.length !== 1)
    .sort(
      (a, b) =>
        (a.type === 'dir' ? 1 : 0) - (b.type === 'dir' ? 1 : 0) || b.path.length - a.path.length,
    )
  for (const e of ordered) setMetadata(where(e), e, asRoot)
}

async function checkTarget(target: string, overwrite: boolean): Promise<void> {
  const names = await fs.readdir(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw new UserError(
      `${target}: ${error.code === 'ENOTDIR' ? 'not a directory' : error.message}`,
    )
  })
  if (names.length > 0 && !overwrite)
    throw new UserError(`${target} is not empty`, {
      hint: 'restore into an empty directory, or pass --overwrite to replace what is there',
    })
}

function setMetadata(file: string, e: Entry, asRoot: boolean): void {
  if (asRoot) lchownSync(file, e.uid, e.gid)
  if (e.type !== 'symlink') chmodSync(file, e.mode)
  const seconds = utimesSeconds(e)
  lutimesSync(file, seconds, seconds)
}

function wholeFileMetadata(e: Entry, asRoot: boolean): FileMetadata {
  return {
    mode: e.mode,
    seconds: utimesSeconds(e),
    uid: asRoot ? e.uid : -1,
    gid: asRoot ? e.gid : -1,
  }
}

// Node takes times as seconds in a double (a quarter of a microsecond apart today) and libuv
// truncates them to nanoseconds, so the middle of the microsecond is asked for: the exact
// value could come back one microsecond (and so, now and then, one millisecond) early.
function utimesSeconds(e: Entry): number {
  return (Number(e.mtimeNs / 1000n) + 0.5) / 1e6
}
