import { createHmac } from 'node:crypto'
import { lstatSync, rmSync } from 'node:fs'
import path from 'node:path'
import type { Agent } from '../home/agent-home.js'
import { backup } from '../backup/backup.js'
import { commitSnapshot } from '../backup/commit-snapshot.js'
import { Packer } from '../backup/packer.js'
import { Catalog, loadManifest } from '../repository/catalog.js'
import type { Entry } from '../repository/format/manifest.js'
import { manifestPath } from '../backup/scan.js'
import { StoreUnavailable } from '../../store/store.js'
import { headName, newestHeads, readHead, sealHead } from './heads.js'
import { folderWriter, TEMP_PREFIX, type SyncEntry } from './apply-action.js'
import type { SyncItem } from './merge.js'
import { syncRound, type Base, type Head, type RoundResult } from './round.js'

// A two-way folder on this device, wired to the round (round.ts): its files are scanned and
// uploaded by a backup pass; the folder's heads are objects `sync/<folder id>/<n>` in the store,
// each sealed and naming the snapshot of that state; remote versions are written from the
// repository's blobs by the executor (apply-action.ts) of the merge's plan (merge.ts). The
// folder id is a keyed hash of the folder's name, so object names reveal nothing. Files modified within the settle time are left to the next round: a file being
// written is never published half-way.
export interface SyncFolderOptions {
  root: string // this device's directory
  folder?: string // the name devices share (default: the path)
  settleMs?: number
  host?: string
}

export const folderId = (agent: Agent, folder: string) =>
  createHmac('sha256', agent.repo.keys.id)
    .update(`keystone sync folder\0${folder}`)
    .digest('hex')
    .slice(0, 32)

const keyOf = (e: Entry) =>
  e.type === 'file'
    ? `f:${e.mode.toString(8)}:${e.size}:${Buffer.concat(e.chunks).toString('hex')}`
    : e.type === 'symlink'
      ? `l:${e.target}`
      : 'd'

function relativize(entries: readonly Entry[], rootPath: string): Map<string, SyncEntry> {
  const out = new Map<string, SyncEntry>()
  const prefix = rootPath === '' ? '' : rootPath + '/'
  for (const e of entries) {
    if (!e.path.startsWith(prefix) || e.path === rootPath) continue
    const rel = e.path.slice(prefix.length)
    if (rel.split('/').some((part) => part.startsWith(TEMP_PREFIX))) continue
    out.set(rel, { ...e, rel, key: keyOf(e), mtimeMs: Number(e.mtimeNs / 1_000_000n) })
  }
  return out
}

export async function syncFolder(agent: Agent, options: SyncFolderOptions): Promise<RoundResult> {
  const { repo, store, state } = agent
  const root = path.resolve(options.root)
  const rootPath = manifestPath(root)
  const host = options.host ?? agent.settings.label
  const fid = folderId(agent, options.folder ?? root)
  const baseKey = `sync-base:${fid}`
  let catalog: Catalog | undefined
  const settleMs = options.settleMs ?? 2000

  const { apply } = folderWriter(agent, root, options.folder ?? root, async () => {
    catalog ??= await Catalog.load(repo)
    return catalog
  })

  const result = await syncRound<SyncEntry>({
    host,
    scan: async () => {
      const started = Date.now()
      const pass = await backup(agent, { paths: [root], host })
      if (pass.queued)
        throw new StoreUnavailable(pass.offlineReason ?? `${store.url} is unreachable`)
      // A round cut short (a crash, a kill) leaves its temporary file behind: removed here.
      for (const e of pass.entries)
        if (e.type === 'file' && path.basename(e.path).startsWith(TEMP_PREFIX))
          rmSync(`/${e.path}`, { force: true })
      const entries = relativize(pass.entries, rootPath)
      const held = new Set(
        [...entries]
          .filter(([, e]) => e.type === 'file' && started - e.mtimeMs < settleMs)
          .map(([p]) => p),
      )
      return { entries, held }
    },
    newestHead: async () => {
      const seq = (await newestHeads(repo, fid)).get(fid)
      if (seq === undefined) return undefined
      const head = await readHead(repo, fid, seq)
      catalog = await Catalog.load(repo)
      const snapshot = await repo.readSnapshot(head.snapshot)
      const entries = await loadManifest(repo, catalog, head.snapshot, snapshot)
      return { seq, entries: relativize(entries, head.root) } satisfies Head<SyncEntry>
    },
    apply,
    publish: async (seq, entries) => {
      // By the merged path, not the entry's own: a conflict copy is a version under a new name.
      const absolute: Entry[] = [...entries]
        .map(
          ([rel, { rel: _from, key: _key, mtimeMs: _mtime, ...e }]) =>
            ({ ...e, path: `${rootPath}/${rel}` }) as Entry,
        )
        .sort((a, b) => (a.path < b.path ? -1 : 1))
      const rootEntry = lstatSync(root, { bigint: true })
      absolute.unshift({
        type: 'dir',
        path: rootPath,
        mode: Number(rootEntry.mode) & 0o7777,
        uid: Number(rootEntry.uid),
        gid: Number(rootEntry.gid),
        mtimeNs: rootEntry.mtimeNs,
      })
      const commit = await commitSnapshot(agent, new Packer(agent, 3), absolute, {
        time: new Date(),
        host,
        paths: [root],
      })
      if (commit.placed === 'queued') throw new StoreUnavailable(`${store.url} is unreachable`)
      const head = {
        version: 1,
        snapshot: commit.name,
        root: rootPath,
        host,
        time: commit.snapshot.time,
      } as const
      return store.putIfAbsent(headName(fid, seq), sealHead(repo, fid, seq, head))
    },
    readBase: () => {
      const text = state.meta(baseKey)
      if (text === undefined) return undefined
      const { seq, entries } = JSON.parse(text) as { seq: number; entries: [string, SyncItem][] }
      return { seq, entries: new Map(entries) }
    },
    writeBase: (base: Base) =>
      state.setMeta(
        baseKey,
        JSON.stringify({
          seq: base.seq,
          entries: [...base.entries].map(([p, e]) => [
            p,
            { type: e.type, key: e.key, mtimeMs: e.mtimeMs },
          ]),
        }),
      ),
  })
  return result
}
