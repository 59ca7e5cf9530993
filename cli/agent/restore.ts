import { promises as fs } from 'node:fs'
import path from 'node:path'
import { UserError } from '../errors.js'
import { blobFromPack, Catalog, loadManifest, type Located } from './catalog.js'
import type { Entry } from './format/manifest.js'
import { packName, type Repository } from './repository.js'
import type { ListedSnapshot } from './snapshots.js'

// Restores a snapshot (or one path of it) under a target directory, pack by pack: each pack is
// downloaded once, checked (its SHA-256, then every blob's tag and id) and its blobs written
// wherever files need them. Metadata (modes, owners when root, times) is set last, directories
// deepest first, so writing into them does not change their times again.
export interface RestoreOptions {
  target: string
  include?: string // a path inside the snapshot
  overwrite?: boolean
  downloads?: number
}

export interface RestoreResult {
  files: number
  dirs: number
  symlinks: number
  bytes: number
}

interface Placement {
  file: string
  offset: number
}

export async function restore(repo: Repository, listed: ListedSnapshot, options: RestoreOptions): Promise<RestoreResult> {
  const target = path.resolve(options.target)
  await checkTarget(target, options.overwrite === true)
  const catalog = await Catalog.load(repo)
  const manifest = await loadManifest(repo, catalog, listed.name, listed.snapshot)
  const include = options.include?.replace(/^\/+|\/+$/g, '')
  const entries = manifest.filter((e) => include === undefined || include === '' || e.path === include || e.path.startsWith(include + '/'))
  if (entries.length === 0) throw new UserError(`${options.include} is not in snapshot ${listed.id.slice(0, 8)}`)

  const where = (e: Entry) => path.join(target, e.path)
  const byPack = new Map<string, { located: Located; places: Placement[] }[]>()
  const byBlob = new Map<string, { located: Located; places: Placement[] }>()
  let bytes = 0
  for (const e of entries) {
    if (e.type === 'dir') await fs.mkdir(where(e), { recursive: true, mode: 0o700 })
  }
  for (const e of entries) {
    if (e.type !== 'file') continue
    const file = where(e)
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
    const handle = await fs.open(file, 'w', 0o600)
    await handle.truncate(e.size)
    await handle.close()
    bytes += e.size
    let offset = 0
    for (const id of e.chunks) {
      const hex = Buffer.from(id).toString('hex')
      let use = byBlob.get(hex)
      if (use === undefined) {
        use = { located: catalog.locate(id, listed.name), places: [] }
        byBlob.set(hex, use)
        const list = byPack.get(use.located.pack) ?? []
        list.push(use)
        byPack.set(use.located.pack, list)
      }
      use.places.push({ file, offset })
      offset += use.located.entry.rawLength
    }
  }

  const packs = [...byPack.keys()]
  const worker = async () => {
    for (let pack = packs.pop(); pack !== undefined; pack = packs.pop()) {
      const packBytes = await repo.readAddressed(packName(pack))
      for (const use of byPack.get(pack)!) {
        const plaintext = blobFromPack(repo, pack, packBytes, use.located.entry)
        for (const place of use.places) await writeAt(place.file, plaintext, place.offset)
      }
    }
  }
  await Promise.all(Array.from({ length: options.downloads ?? 4 }, worker))

  for (const e of entries) {
    if (e.type !== 'symlink') continue
    await fs.mkdir(path.dirname(where(e)), { recursive: true, mode: 0o700 })
    await fs.rm(where(e), { force: true })
    await fs.symlink(e.target, where(e))
  }
  const asRoot = process.getuid?.() === 0
  const ordered = [...entries].sort((a, b) => (a.type === 'dir' ? 1 : 0) - (b.type === 'dir' ? 1 : 0) || b.path.length - a.path.length)
  for (const e of ordered) await setMetadata(where(e), e, asRoot)
  return {
    files: entries.filter((e) => e.type === 'file').length,
    dirs: entries.filter((e) => e.type === 'dir').length,
    symlinks: entries.filter((e) => e.type === 'symlink').length,
    bytes,
  }
}

async function checkTarget(target: string, overwrite: boolean): Promise<void> {
  const names = await fs.readdir(target).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw new UserError(`${target}: ${error.code === 'ENOTDIR' ? 'not a directory' : error.message}`)
  })
  if (names.length > 0 && !overwrite)
    throw new UserError(`${target} is not empty`, { hint: 'restore into an empty directory, or pass --overwrite to replace what is there' })
}

async function writeAt(file: string, data: Uint8Array, offset: number): Promise<void> {
  const handle = await fs.open(file, 'r+')
  try {
    await handle.write(data, 0, data.length, offset)
  } finally {
    await handle.close()
  }
}

async function setMetadata(file: string, e: Entry, asRoot: boolean): Promise<void> {
  if (asRoot) await fs.lchown(file, e.uid, e.gid)
  if (e.type !== 'symlink') await fs.chmod(file, e.mode)
  const seconds = Number(e.mtimeNs / 1000n) / 1e6
  await fs.lutimes(file, seconds, seconds)
}
