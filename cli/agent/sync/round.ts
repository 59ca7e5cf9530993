import { merge3, type Action, type SyncItem } from './merge.js'

// One sync round of a two-way folder, the same on every device: merge this device's files with
// the folder's newest published state (a "head", numbered 1, 2, 3, …), bring its files to the
// result, and publish the result as the next head — a write that succeeds only if that number
// is still free, so two devices never both publish head n: the second merges again with the
// first's result. The base (the state this device last agreed with) moves with every step, so a
// round cut short by a crash or a lost race never makes a change look like a conflict.
export interface Head<E extends SyncItem> {
  seq: number
  entries: ReadonlyMap<string, E>
}

export interface Base {
  seq: number
  entries: ReadonlyMap<string, SyncItem>
}

export interface FolderDeps<E extends SyncItem> {
  host: string
  // This device's files now (their contents already in the store), and paths being written.
  scan(): Promise<{ entries: ReadonlyMap<string, E>; held: ReadonlySet<string> }>
  newestHead(): Promise<Head<E> | undefined>
  // Applies one action; false when the file changed since the scan (left to the next round).
  apply(action: Action<E>): Promise<boolean>
  // Publishes head `seq` unless it exists; false when another device was first.
  publish(seq: number, entries: ReadonlyMap<string, E>): Promise<boolean>
  readBase(): Base | undefined
  writeBase(base: Base): void
}

export interface RoundResult {
  published?: number // the head this round published
  head: number // the head this device is in step with now
  applied: number
  conflicts: string[]
  deferred: string[] // paths left to the next round (being written, or changed meanwhile)
}

const ATTEMPTS = 8

export async function syncRound<E extends SyncItem>(deps: FolderDeps<E>): Promise<RoundResult> {
  let applied = 0
  const conflicts: string[] = []
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const { entries: local, held } = await deps.scan()
    const head: Head<E> = (await deps.newestHead()) ?? { seq: 0, entries: new Map() }
    const base: Base = deps.readBase() ?? { seq: 0, entries: new Map() }
    const merged = merge3(base.entries, local, head.entries, { host: deps.host, held })
    const deferred = new Set(held)
    for (const action of merged.actions) {
      if (action.kind === 'write' && deferred.has(action.path)) continue
      if (await deps.apply(action)) {
        applied++
        continue
      }
      deferred.add(action.kind === 'rename' ? action.from : action.path)
      if (action.kind === 'rename') merged.result.delete(action.to)
    }
    conflicts.push(...merged.conflicts.filter((c) => merged.result.has(c)))
    // A deferred path stays as the head has it, and keeps its base: the next round merges it.
    for (const p of deferred) {
      const r = head.entries.get(p)
      if (r === undefined) merged.result.delete(p)
      else merged.result.set(p, r)
    }
    // In step with the head now, except for this device's own changes, not published yet.
    const rebased = new Map<string, SyncItem>()
    for (const [p, r] of head.entries) {
      const l = merged.result.get(p)
      const ours = deferred.has(p) || l === undefined || l.key !== r.key || l.type !== r.type
      const keep = ours ? base.entries.get(p) : r
      if (keep !== undefined) rebased.set(p, keep)
    }
    for (const [p, b] of base.entries)
      if (!head.entries.has(p) && !rebased.has(p) && deferred.has(p)) rebased.set(p, b)
    deps.writeBase({ seq: head.seq, entries: rebased })
    if (sameState(merged.result, head.entries))
      return { head: head.seq, applied, conflicts, deferred: [...deferred] }
    if (await deps.publish(head.seq + 1, merged.result)) {
      const published = new Map<string, SyncItem>(merged.result)
      for (const p of deferred) {
        const b = base.entries.get(p)
        if (b === undefined) published.delete(p)
        else published.set(p, b)
      }
      deps.writeBase({ seq: head.seq + 1, entries: published })
      return {
        published: head.seq + 1,
        head: head.seq + 1,
        applied,
        conflicts,
        deferred: [...deferred],
      }
    }
  }
  throw new Error(
    `no sync round succeeded in ${ATTEMPTS} attempts: other devices publish faster than this one merges`,
  )
}

function sameState(a: ReadonlyMap<string, SyncItem>, b: ReadonlyMap<string, SyncItem>): boolean {
  if (a.size !== b.size) return false
  for (const [p, x] of a) {
    const y = b.get(p)
    if (y === undefined || y.key !== x.key || y.type !== x.type) return false
  }
  return true
}
