import { createHmac, randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs'
import path from 'node:path'
import type { Agent } from '../home/agent-home.js'
import { queueAuditEvent } from '../home/audit-queue.js'
import { backup, commitSnapshot, Packer } from '../backup/backup.js'
import { Catalog, loadManifest } from '../repository/catalog.js'
import { blobFromPack } from '../repository/format/blob.js'
import type { Entry } from '../repository/format/manifest.js'
import { packName } from '../repository/repository.js'
import { manifestPath } from '../backup/scan.js'
import { StoreUnavailable } from '../../store/store.js'
import { headName, newestHeads, readHead, sealHead } from './heads.js'
import type { Action, SyncItem } from './merge.js'
import { syncRound, type Base, type Head, type RoundResult } from './round.js'

// A two-way folder on this device, wired to the round (round.ts): its files are scanned and
// uploaded by a backup pass; the folder's heads are objects `sync/<folder id>/<n>` in the store,
// each sealed and naming the snapshot of that state; remote versions are written from the
// repository's blobs into a temporary file that replaces the old one only if it is still what
// the scan saw. The folder id is a keyed hash of the folder's name, so object names reveal
// nothing. Files modified within the settle time are left to the next round: a file being
// written is never published half-way.
export interface SyncFolderOptions {
  root: string // this device's directory
  folder?: string // the name devices share (default: the path)
  settleMs?: number
  host?: string
}

type SyncEntry = Entry & SyncItem & { rel: string }

const TEMP_PREFIX = '.keystone-sync-'
const tempBeside = (file: string) =>
  path.join(path.dirname(file), `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`)

// Whether a directory above `rel` (a path inside the folder) is here a symlink or a file. An
// action beneath it would land wherever the link points, outside the folder: the other device's
// tree had a directory where this one has a link, or a manifest pairs a link with paths under
// it. Such an action waits; a directory that replaces the link comes first and clears the way.
function blockedAbove(root: string, rel: string): boolean {
  let at = root
  const parts = rel.split('/')
  parts.pop()
  for (const part of parts) {
    at += '/' + part
    const stat = lstatSync(at, { throwIfNoEntry: false })
    if (stat === undefined) return false // the rest is created by the action, as directories
    if (!stat.isDirectory()) return true
  }
  return false
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
  const packs = new Map<string, Buffer>()
  const settleMs = options.settleMs ?? 2000

  const readPack = async (pack: string) => {
    let bytes = packs.get(pack)
    if (bytes === undefined) {
      if (packs.size >= 8) packs.clear()
      bytes = await repo.readSealed(packName(pack))
      packs.set(pack, bytes)
    }
    return bytes
  }

  // The remote version of a file, written beside it and renamed over it only if the path is
  // still as the scan saw it (or still absent).
  const writeFile = async (target: string, entry: SyncEntry & { type: 'file' }) => {
    catalog ??= await Catalog.load(repo)
    const temp = tempBeside(target)
    const fd = openSync(temp, 'wx', 0o600)
    try {
      for (const id of entry.chunks) {
        const located = catalog.locate(id, `the head of ${options.folder ?? root}`)
        const bytes = await readPack(located.pack)
        const plaintext = blobFromPack(
          repo.keys,
          packName(located.pack),
          bytes,
          located.entry,
          false,
        )
        writeSync(fd, plaintext)
      }
      fsyncSync(fd)
    } catch (error) {
      closeSync(fd)
      rmSync(temp, { force: true })
      throw error
    }
    closeSync(fd)
    chmodSync(temp, entry.mode)
    const seconds = (Number(entry.mtimeNs / 1000n) + 0.5) / 1e6
    utimesSync(temp, seconds, seconds)
    return temp
  }

  const unchanged = (file: string, expected: SyncEntry | undefined) => {
    const now = lstatSync(file, { throwIfNoEntry: false, bigint: true })
    if (expected === undefined) return now === undefined
    if (now === undefined) return false
    if (expected.type === 'dir') return now.isDirectory()
    if (expected.type === 'symlink') return now.isSymbolicLink()
    return now.isFile() && Number(now.size) === expected.size && now.mtimeNs === expected.mtimeNs
  }

  const apply = async (action: Action<SyncEntry>): Promise<boolean> => {
    const paths = action.kind === 'rename' ? [action.from, action.to] : [action.path]
    if (paths.some((rel) => blockedAbove(root, rel))) return false
    if (action.kind === 'rename') {
      const from = path.join(root, action.from)
      const to = path.join(root, action.to)
      if (!unchanged(from, action.expected) || !unchanged(to, undefined)) return false
      renameSync(from, to)
      queueAuditEvent(state, { type: 'conflict-kept', detail: action.to })
      return true
    }
    if (action.kind === 'delete') {
      const file = path.join(root, action.path)
      if (!unchanged(file, action.expected)) return false
      if (action.expected.type !== 'dir') {
        unlinkSync(file)
        return true
      }
      try {
        rmdirSync(file)
        return true
      } catch {
        return false // not empty: something new is in it
      }
    }
    const file = path.join(root, action.path)
    mkdirSync(path.dirname(file), { recursive: true })
    const entry = action.entry
    if (entry.type === 'dir') {
      if (!unchanged(file, action.replaces))
        return lstatSync(file, { throwIfNoEntry: false })?.isDirectory() === true
      // A directory where this device has a link or a file: the link goes (mkdir would follow
      // it and report the directory it points at as made).
      if (action.replaces !== undefined && action.replaces.type !== 'dir') unlinkSync(file)
      mkdirSync(file, { recursive: true, mode: entry.mode })
      return true
    }
    let temp: string
    if (entry.type === 'file') temp = await writeFile(file, entry)
    else {
      temp = tempBeside(file)
      symlinkSync(entry.target, temp)
    }
    if (!unchanged(file, action.replaces)) {
      rmSync(temp, { force: true })
      return false
    }
    renameSync(temp, file)
    return true
  }

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
