import { randomBytes } from 'node:crypto'
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
import type { Catalog } from '../repository/catalog.js'
import { blobFromPack } from '../repository/format/blob.js'
import type { Entry } from '../repository/format/manifest.js'
import { packName } from '../repository/repository.js'
import type { Action, SyncItem } from './merge.js'

// The executor of a sync round's plan: one action of merge3 (merge.ts) done on this device's
// folder, or refused (false) when the path is no longer what the scan saw, so that nothing a
// user changed meanwhile is overwritten. A remote version is written from the repository's
// blobs into a temporary file beside it, renamed over the old one only if that is unchanged.
export type SyncEntry = Entry & SyncItem & { rel: string }

export const TEMP_PREFIX = '.keystone-sync-'
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

// `catalog`: where the blobs of the head being applied are; the round loads it with the head.
export function folderWriter(
  agent: Agent,
  root: string,
  folder: string,
  catalog: () => Promise<Catalog>,
) {
  const { repo, state } = agent
  const packs = new Map<string, Buffer>()

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
    const blobs = await catalog()
    const temp = tempBeside(target)
    const fd = openSync(temp, 'wx', 0o600)
    try {
      for (const id of entry.chunks) {
        const located = blobs.locate(id, `the head of ${folder}`)
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

  return { apply }
}
