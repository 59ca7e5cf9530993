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
import type { Placement } from '../workers/worker-protocol.js'

// Restores a snapshot (or one path of it) under a target directory, pack by pack: each pack is
// downloaded once, checked (its SHA-256, then every blob's tag and id) and its blobs written
// wherever files need them. Metadata (modes, owners when root, times) is set last, directories
// deepest first, so writing into them does not change their times again.
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
  const run = randomBytes(4).toString('hex')
  const temporary = (file: string) =>
    path.join(path.dirname(file), `.${path.basename(file)}.${run}.restoring`)
  const packsOf = new Map<string, Set<string>>() // real path → packs its chunks are in
  const byPack = new Map<string, { located: Located; places: Placement[] }[]>()
  const byBlob = new Map<string, { located: Located; places: Placement[] }>()
  let bytes = 0
  const dirs = new Set(entries.map((e) => (e.type === 'dir' ? where(e) : path.dirname(where(e)))))
  for (const dir of dirs) mkdirSync(dir, { recursive: true, mode: 0o700 })
  try {
    for (const e of entries) {
      if (e.type !== 'file') continue
      const real = where(e)
      const file = temporary(real)
      const packs = new Set<string>()
      packsOf.set(real, packs)
      bytes += e.size
      if (e.chunks.length !== 1) {
        // Empty, or written chunk by chunk at offsets: created at its full size first.
        const fd = openSync(file, 'w', 0o600)
        ftruncateSync(fd, e.size)
        closeSync(fd)
      }
      let offset = 0
      for (const id of e.chunks) {
        const hex = Buffer.from(id).toString('hex')
        const place = { file, offset, whole: e.chunks.length === 1 }
        let use = byBlob.get(hex)
        if (use === undefined) {
          // Made with its first place: an empty array pushed to reserves room for 17.
          use = { located: catalog.locate(hex, listed.name), places: [place] }
          byBlob.set(hex, use)
          const list = byPack.get(use.located.pack) ?? []
          list.push(use)
          byPack.set(use.located.pack, list)
        } else use.places.push(place)
        packs.add(use.located.pack)
        offset += use.located.entry.rawLength
      }
    }

    // Downloads run ahead of the workers, so the network and the disk are busy at once; each
    // fetcher holds one pack at a time, so at most `downloads` packs are in memory. A pack that
    // is damaged or missing costs the files that need it, not the restore; any other failure
    // (the store unreachable, the target full) ends it.
    const packs = [...byPack.keys()]
    const { packSize, chunker } = repo.parameters
    const pool = new RestorePool(repo.keys.seal, packSize + chunker.max + 64 * 1024)
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
          const blobs = byPack.get(pack)!.map(({ located: { entry }, places }) => ({
            id: Buffer.from(entry.id).toString('hex'),
            compressed: entry.compressed,
            offset: entry.offset,
            length: entry.length,
            rawLength: entry.rawLength,
            places,
          }))
          await pool.run(object, bytes, blobs)
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

    const notRestored = new Set<string>()
    for (const [real, packs] of packsOf) {
      const file = temporary(real)
      if ([...packs].some((pack) => lost.has(pack))) {
        notRestored.add(real)
        // A one-chunk file whose blob failed was never written: nothing to keep.
        if (options.keepPartial === true && existsSync(file)) renameSync(file, `${real}.partial`)
        else rmSync(file, { force: true })
        continue
      }
      const fd = openSync(file, 'r')
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(file, real)
    }
    packsOf.clear()
    if (notRestored.size > 0) {
      // The directories, symlinks and other files are restored all the same, with their metadata.
      await finishTree(
        entries.filter((e) => e.type !== 'file' || !notRestored.has(where(e))),
        where,
      )
      const first = [...lost.values()][0]!
      const reason =
        lost.size === 1
          ? first.message
          : `${lost.size} objects damaged or missing, first ${first.message}`
      throw new RestoreIncomplete(
        [...notRestored].map((real) => path.relative(target, real)),
        [...lost.values()].map((error) => error.object),
        reason,
        options.keepPartial === true,
      )
    }
  } finally {
    // Whatever was not renamed (the restore failed) goes: no temporary file is left behind.
    for (const real of packsOf.keys()) rmSync(temporary(real), { force: true })
  }
  await finishTree(entries, where)
  return {
    files: entries.filter((e) => e.type === 'file').length,
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
  const ordered = [...entries].sort(
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
  // Node takes times as seconds in a double (a quarter of a microsecond apart today) and libuv
  // truncates them to nanoseconds, so the middle of the microsecond is asked for: the exact
  // value could come back one microsecond (and so, now and then, one millisecond) early.
  const seconds = (Number(e.mtimeNs / 1000n) + 0.5) / 1e6
  lutimesSync(file, seconds, seconds)
}
