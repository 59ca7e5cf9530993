import { conflictName } from './conflict-name.js'

// The three-way merge of a two-way folder: what this device has (`local`), what the folder's
// newest published state holds (`remote`) and their last common state (`base`), path by path:
// - a change on one side only is taken (a deletion counts as a change);
// - a deletion loses against a change on the other side (nothing changed is ever deleted);
// - two different changes keep both: the remote version keeps the name (it was published
//   first), the local one is kept as `name.conflict-<host>-<time>.ext`;
// - a directory wins its name against a file; the file is kept under a conflict name.
// The result is the new state of the folder; the actions turn this device's files into it.
export interface SyncItem {
  type: 'file' | 'dir' | 'symlink'
  key: string // equal keys: the same content, target and mode
  mtimeMs: number
}

export type Action<E extends SyncItem> =
  | { kind: 'rename'; from: string; to: string; expected: E } // keep the local version aside
  | { kind: 'delete'; path: string; expected: E }
  | { kind: 'write'; path: string; entry: E; replaces?: E } // bring a remote version here

export interface MergeResult<E extends SyncItem> {
  result: Map<string, E>
  actions: Action<E>[]
  conflicts: string[] // the conflict copies made
}

const same = (a: SyncItem | undefined, b: SyncItem | undefined) =>
  a === undefined || b === undefined ? a === b : a.type === b.type && a.key === b.key

export function merge3<E extends SyncItem>(
  base: ReadonlyMap<string, SyncItem>,
  local: ReadonlyMap<string, E>,
  remote: ReadonlyMap<string, E>,
  options: { host: string; held?: ReadonlySet<string> },
): MergeResult<E> {
  const result = new Map<string, E>()
  const renames: Action<E>[] = []
  const deletes: Action<E>[] = []
  const writes: Action<E>[] = []
  const conflicts: string[] = []
  const paths = [...new Set([...base.keys(), ...local.keys(), ...remote.keys()])].sort()
  const taken = (p: string) => base.has(p) || local.has(p) || remote.has(p) || result.has(p)
  const keepAside = (path: string, version: E, isLocal: boolean) => {
    const to = conflictName(path, options.host, version.mtimeMs, taken)
    result.set(to, version)
    conflicts.push(to)
    if (isLocal) renames.push({ kind: 'rename', from: path, to, expected: version })
    else writes.push({ kind: 'write', path: to, entry: version })
  }

  for (const p of paths) {
    const b = base.get(p)
    const l = local.get(p)
    const r = remote.get(p)
    if (options.held?.has(p)) {
      // Being written on this device: neither taken nor overwritten in this round.
      if (r !== undefined) result.set(p, r)
      continue
    }
    if (same(l, r)) {
      if (l !== undefined) result.set(p, l)
    } else if (same(l, b)) {
      // Only the remote side changed.
      if (r !== undefined) {
        result.set(p, r)
        writes.push({ kind: 'write', path: p, entry: r, ...(l !== undefined && { replaces: l }) })
      } else deletes.push({ kind: 'delete', path: p, expected: l! })
    } else if (same(r, b)) {
      // Only this side changed; it is published as it is.
      if (l !== undefined) result.set(p, l)
    } else if (l === undefined) {
      // Deleted here, changed there: the change wins.
      result.set(p, r!)
      writes.push({ kind: 'write', path: p, entry: r! })
    } else if (r === undefined) {
      // Changed here, deleted there: the change wins.
      result.set(p, l)
    } else if (l.type === 'dir' && r.type !== 'dir') {
      result.set(p, l)
      keepAside(p, r, false)
    } else {
      // Both changed: the remote version keeps the name, this one is kept aside.
      keepAside(p, l, true)
      result.set(p, r)
      writes.push({ kind: 'write', path: p, entry: r })
    }
  }
  // A kept path keeps its directories, whatever happened to them on either side.
  for (const p of [...result.keys()]) {
    for (let dir = parentOf(p); dir !== ''; dir = parentOf(dir)) {
      if (result.has(dir)) continue
      // A kept child's directory is on the side the child came from.
      const keep = local.get(dir) ?? remote.get(dir)
      if (keep === undefined || keep.type !== 'dir') break
      result.set(dir, keep)
      const i = deletes.findIndex((a) => a.kind === 'delete' && a.path === dir)
      if (i !== -1) deletes.splice(i, 1)
    }
  }
  // Aside first, then deletions deepest first, then writes shallowest first.
  deletes.sort((a, b) => pathOf(b).length - pathOf(a).length)
  writes.sort((a, b) => pathOf(a).length - pathOf(b).length)
  return { result, actions: [...renames, ...deletes, ...writes], conflicts }
}

const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '')
const pathOf = (a: Action<SyncItem>) => (a.kind === 'rename' ? a.from : a.path)
