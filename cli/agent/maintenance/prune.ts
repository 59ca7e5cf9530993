import { Catalog, loadManifest } from '../repository/catalog.js'
import { Lease } from '../repository/lease.js'
import { keep, type Policy } from './retention.js'
import { idOfName, packName, type Repository } from '../repository/repository.js'
import { listSnapshots } from '../repository/snapshots.js'
import type { AgentState } from '../home/state.js'
import { newestHeads, readHead } from '../sync/heads.js'

// Forgets the snapshots a retention policy does not keep, then deletes the packs no kept
// snapshot needs, under the exclusive lease (never while a backup runs). The order keeps the
// repository valid if prune is killed at any point: snapshots go first, then a new index of
// the surviving packs is written before the old indexes are deleted, and packs go last, when no
// index lists them any more. Packs that hold some needed blobs are kept whole; packs in no index
// (a backup that has not finished) are never touched.
export interface PruneResult {
  forgotten: string[]
  kept: number
  deletedPacks: number
  freedBytes: number
}

export async function prune(
  repo: Repository,
  state: AgentState | undefined,
  policy: Policy,
  options: { dryRun: boolean; label: string },
): Promise<PruneResult> {
  const lease = options.dryRun ? undefined : await Lease.exclusive(repo, options.label)
  try {
    const all = await listSnapshots(repo)
    const kept = keep(
      all.map((s) => ({
        id: s.id,
        time: s.snapshot.time,
        group: JSON.stringify([s.snapshot.host, s.snapshot.paths]),
      })),
      policy,
    )
    // The newest state of every two-way folder is kept whatever the policy: devices merge with it.
    for (const [fid, seq] of await newestHeads(repo))
      kept.add(idOfName((await readHead(repo, fid, seq)).snapshot))
    const forget = all.filter((s) => !kept.has(s.id))
    const catalog = await Catalog.load(repo)
    const needed = new Set<string>()
    for (const s of all) {
      if (!kept.has(s.id)) continue
      for (const e of await loadManifest(repo, catalog, s.name, s.snapshot, needed)) {
        if (e.type === 'file')
          for (const id of e.chunks) needed.add(Buffer.from(id).toString('hex'))
      }
    }
    const packs = new Map<string, { keep: boolean; bytes: number }>()
    for (const [hex, { pack, entry }] of catalog.blobs) {
      const p = packs.get(pack) ?? { keep: false, bytes: 0 }
      p.keep ||= needed.has(hex)
      p.bytes = Math.max(p.bytes, entry.offset + entry.length)
      packs.set(pack, p)
    }
    const doomed = [...packs].filter(([, p]) => !p.keep)
    const result: PruneResult = {
      forgotten: forget.map((s) => s.id),
      kept: kept.size,
      deletedPacks: doomed.length,
      freedBytes: doomed.reduce((n, [, p]) => n + p.bytes, 0),
    }
    if (options.dryRun) return result

    for (const s of forget) await repo.store.delete(s.name)
    if (doomed.length > 0) {
      const oldIndexes = new Set(catalog.indexOfPack.values())
      const survivors = new Map<string, ReturnType<Catalog['locate']>['entry'][]>()
      for (const { pack, entry } of catalog.blobs.values()) {
        if (!packs.get(pack)!.keep) continue
        survivors.set(pack, [...(survivors.get(pack) ?? []), entry])
      }
      const fresh =
        survivors.size > 0
          ? await repo.writeIndex([...survivors].map(([pack, entries]) => ({ pack, entries })))
          : undefined
      for (const name of oldIndexes) if (name !== fresh) await repo.store.delete(name)
      for (const [pack] of doomed) await repo.store.delete(packName(pack))
      // This device's own state forgets the old indexes now rather than at its next backup.
      state?.forgetIndexes()
    }
    return result
  } finally {
    await lease?.release()
  }
}
