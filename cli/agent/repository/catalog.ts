import { IntegrityError } from './crypto/integrity-error.js'
import { blobFromPack } from './format/blob.js'
import { FormatError } from './format/bytes.js'
import { decodeManifest, type Entry } from './format/manifest.js'
import type { BlobEntry } from './format/pack.js'
import { decodeTreeList, type Snapshot } from './format/snapshot-object.js'
import { packName, type Repository } from './repository.js'

// Where every blob of the repository is, read from its indexes (the store's truth, so a new
// device restores without any local state).
export interface Located {
  pack: string
  entry: BlobEntry
}

export class Catalog {
  readonly blobs = new Map<string, Located>()
  readonly indexOfPack = new Map<string, string>()

  static async load(repo: Repository): Promise<Catalog> {
    const catalog = new Catalog()
    for (const o of await repo.list('index/')) {
      for (const p of await repo.readIndex(o.name)) {
        catalog.indexOfPack.set(p.pack, o.name)
        for (const entry of p.entries)
          catalog.blobs.set(Buffer.from(entry.id).toString('hex'), { pack: p.pack, entry })
      }
    }
    return catalog
  }

  locate(id: Uint8Array | string, needed: string): Located {
    const hex = typeof id === 'string' ? id : Buffer.from(id).toString('hex')
    const found = this.blobs.get(hex)
    if (found === undefined)
      throw new IntegrityError(needed, `blob ${hex} is in no index of the repository`)
    return found
  }
}

// A snapshot's manifest, from its tree blobs. `read`, when given, receives the id of every tree
// blob the manifest needs, its tree list's included (what `prune` must keep).
export async function loadManifest(
  repo: Repository,
  catalog: Catalog,
  name: string,
  snapshot: Snapshot,
  read?: Set<string>,
): Promise<Entry[]> {
  // Tree blobs are packed in the order they were written, so the pack of the last one is the
  // only one kept: a manifest of 200,000 files spans a few packs, each read once.
  let last: { pack: string; bytes: Buffer } | undefined
  const treeBlob = async (id: string) => {
    read?.add(id)
    const { pack, entry } = catalog.locate(id, name)
    if (last?.pack !== pack) last = { pack, bytes: await repo.readAddressed(packName(pack)) }
    return blobFromPack(repo.keys, packName(pack), last.bytes, entry)
  }
  try {
    const ids =
      snapshot.version === 1 ? snapshot.tree : decodeTreeList(await treeBlob(snapshot.root))
    const parts: Buffer[] = []
    for (const id of ids) parts.push(await treeBlob(id))
    return decodeManifest(Buffer.concat(parts))
  } catch (error) {
    if (error instanceof FormatError)
      throw new IntegrityError(name, `its manifest is damaged: ${error.message}`)
    throw error
  }
}
