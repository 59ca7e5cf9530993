import { UserError } from '../../errors.js'
import type { Snapshot } from './format/snapshot-object.js'
import { idOfName, type Repository } from './repository.js'

export interface ListedSnapshot {
  name: string
  id: string
  snapshot: Snapshot
}

// Every snapshot, oldest first.
export async function listSnapshots(repo: Repository): Promise<ListedSnapshot[]> {
  const objects = await repo.list('snapshots/')
  const listed = await Promise.all(
    objects.map(async (o) => ({
      name: o.name,
      id: idOfName(o.name),
      snapshot: await repo.readSnapshot(o.name),
    })),
  )
  return listed.sort(
    (a, b) => a.snapshot.time.localeCompare(b.snapshot.time) || a.id.localeCompare(b.id),
  )
}

// `latest` (this device's newest, else the newest of any) or a unique prefix of a snapshot id.
export function pickSnapshot(
  all: readonly ListedSnapshot[],
  wanted: string,
  host: string,
): ListedSnapshot {
  if (all.length === 0)
    throw new UserError('the repository has no snapshots yet', {
      hint: 'run `keystone agent backup <path>` first',
    })
  if (wanted === 'latest') {
    const own = all.filter((s) => s.snapshot.host === host)
    return (own.length > 0 ? own : all).at(-1)!
  }
  if (!/^[0-9a-f]{4,64}$/.test(wanted))
    throw new UserError(`"${wanted}" is not a snapshot id`, {
      hint: 'use `latest` or an id (at least 4 hex digits) from `keystone agent snapshots`',
    })
  const matches = all.filter((s) => s.id.startsWith(wanted))
  if (matches.length === 1) return matches[0]!
  throw new UserError(
    matches.length === 0
      ? `no snapshot ${wanted}`
      : `${wanted} matches ${matches.length} snapshots`,
    {
      hint: 'see `keystone agent snapshots`',
    },
  )
}
