import { IntegrityError } from '../repository/crypto/integrity-error.js'
import { Catalog, loadManifest } from '../repository/catalog.js'
import { blobFromPack } from '../repository/format/blob.js'
import { FormatError } from '../repository/format/bytes.js'
import { readPackHeader } from '../repository/format/pack.js'
import { readKeyInfo } from '../repository/key-ring.js'
import { idOfName, packName, type Repository } from '../repository/repository.js'
import { ObjectMissing } from '../../store/store.js'

// Checks a repository without trusting it: every key object's MAC, every index and snapshot
// (their names are their SHA-256, then their AEAD), every manifest, and that every chunk a
// snapshot needs is indexed in a pack that exists. With `readData`, every pack is downloaded
// and every blob opened and re-hashed. Problems are collected, not thrown one at a time, so
// one run lists every damaged object.
export interface VerifyReport {
  problems: string[] // "<object>: <reason>"
  notes: string[]
  counts: {
    keys: number
    indexes: number
    snapshots: number
    packs: number
    blobs: number
    readPacks: number
  }
}

export async function verify(
  repo: Repository,
  options: { readData: boolean },
): Promise<VerifyReport> {
  const problems: string[] = []
  const notes: string[] = []
  const record = (error: unknown) => {
    if (error instanceof IntegrityError) problems.push(error.message)
    else if (error instanceof ObjectMissing) problems.push(error.message)
    else throw error
  }

  const keyObjects = await repo.list('keys/')
  for (const o of keyObjects) {
    try {
      readKeyInfo(o.name, await repo.store.get(o.name), repo.keys)
    } catch (error) {
      record(error)
    }
  }

  const catalog = new Catalog()
  const indexes = await repo.list('index/')
  for (const o of indexes) {
    try {
      for (const p of await repo.readIndex(o.name)) {
        catalog.indexOfPack.set(p.pack, o.name)
        for (const entry of p.entries)
          catalog.blobs.set(Buffer.from(entry.id).toString('hex'), { pack: p.pack, entry })
      }
    } catch (error) {
      record(error)
    }
  }

  const stored = new Map((await repo.list('data/')).map((o) => [idOfName(o.name), o.size]))
  const packEnd = new Map<string, number>()
  for (const { pack, entry } of catalog.blobs.values())
    packEnd.set(pack, Math.max(packEnd.get(pack) ?? 0, entry.offset + entry.length))
  for (const [pack, end] of packEnd) {
    const size = stored.get(pack)
    if (size === undefined)
      problems.push(
        `${packName(pack)}: listed in ${catalog.indexOfPack.get(pack)} but missing from the store`,
      )
    else if (size < end)
      problems.push(`${packName(pack)}: truncated (${size} bytes, its index needs ${end})`)
  }
  const unindexed = [...stored.keys()].filter((pack) => !packEnd.has(pack))
  if (unindexed.length > 0)
    notes.push(
      `${unindexed.length} pack${unindexed.length === 1 ? ' is' : 's are'} in no index yet (left by an interrupted backup; its device indexes them on its next pass)`,
    )

  const snapshots = await repo.list('snapshots/')
  for (const o of snapshots) {
    try {
      const snapshot = await repo.readSnapshot(o.name)
      for (const e of await loadManifest(repo, catalog, o.name, snapshot)) {
        if (e.type !== 'file') continue
        for (const id of e.chunks) {
          const hex = Buffer.from(id).toString('hex')
          const found = catalog.blobs.get(hex)
          if (found === undefined)
            problems.push(`${o.name}: /${e.path} needs blob ${hex}, which no index lists`)
          else if (!stored.has(found.pack))
            problems.push(`${o.name}: /${e.path} needs ${packName(found.pack)}, which is missing`)
        }
      }
    } catch (error) {
      record(error)
    }
  }

  let readPacks = 0
  if (options.readData) {
    for (const pack of stored.keys()) {
      const name = packName(pack)
      try {
        const bytes = await repo.readAddressed(name)
        readPacks++
        let entries
        try {
          entries = readPackHeader(repo.keys.seal, bytes)
        } catch (error) {
          if (error instanceof FormatError) throw new IntegrityError(name, error.message)
          throw error
        }
        for (const entry of entries) blobFromPack(repo.keys, name, bytes, entry)
      } catch (error) {
        record(error)
      }
    }
  }
  return {
    problems: [...new Set(problems)],
    notes,
    counts: {
      keys: keyObjects.length,
      indexes: indexes.length,
      snapshots: snapshots.length,
      packs: stored.size,
      blobs: catalog.blobs.size,
      readPacks,
    },
  }
}
