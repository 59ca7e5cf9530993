import type { KeyObject } from 'node:crypto'
import type { Heartbeat } from '../records/heartbeat.js'
import { decodeSigned, recordHash } from '../records/signed-record.js'

// The verdict on one host from the tail of its heartbeat chain, as the admin's laptop sees it.
// Every record must be signed by the key pinned in the host file (else `forged`), hold the
// sequence number its name claims (else `replayed`: an old heartbeat under a new name), and
// follow the one before it by number and hash (else `chain broken`: one was deleted, reordered
// or rewritten). The laptop remembers the newest heartbeat it verified, so a bucket rolled back
// to older heartbeats is `replayed` too. A good chain is then `ok`, `stale` or `offline` by age.
export type HostState =
  | 'ok'
  | 'stale'
  | 'offline'
  | 'never seen'
  | 'forged'
  | 'replayed'
  | 'chain broken'
  | 'unpinned' // no agent key in the host file: nothing can be verified
  | 'unreachable' // the store did not answer

export interface FetchedRecord {
  name: string
  seq: number // as the name claims
  bytes: Buffer
}

export interface SeenHead {
  seq: number
  hash: string
  time: string
}

export interface Verdict {
  state: HostState
  detail?: string
  latest?: Heartbeat
  head?: SeenHead // what to remember when the chain verified
}

// Overdue by more than two intervals (and a minute of slack): stale; silent for a day: offline.
export const OFFLINE_AFTER_MS = 24 * 60 * 60 * 1000
const staleAfterMs = (intervalSeconds: number) => 2 * intervalSeconds * 1000 + 60_000

export function judgeHeartbeats(
  host: string,
  key: KeyObject,
  records: readonly FetchedRecord[], // the tail of the chain, ascending by seq
  seen: SeenHead | undefined,
  now: Date,
): Verdict {
  if (records.length === 0)
    return seen === undefined
      ? { state: 'never seen' }
      : {
          state: 'replayed',
          detail: `no heartbeat in the store, but ${seen.seq} was verified at ${seen.time}`,
        }
  const bodies: Heartbeat[] = []
  for (const record of records) {
    const decoded = decodeSigned<Heartbeat>(record.bytes, key)
    if (!decoded.ok) return { state: 'forged', detail: `${record.name}: ${decoded.reason}` }
    const body = decoded.body
    if (body.kind !== 'heartbeat' || body.host !== host || body.seq !== record.seq)
      return {
        state: 'replayed',
        detail: `${record.name} holds ${body.kind} ${body.seq} of ${body.host}`,
      }
    bodies.push(body)
  }
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!
    const body = bodies[i]!
    if (i === 0) {
      if (body.seq === 1 && body.prev !== null)
        return {
          state: 'chain broken',
          detail: `${record.name}: the first heartbeat names a predecessor`,
        }
      continue
    }
    const before = records[i - 1]!
    if (record.seq !== before.seq + 1)
      return {
        state: 'chain broken',
        detail: `heartbeat ${before.seq + 1} is missing (deleted?) before ${record.name}`,
      }
    if (body.prev !== recordHash(before.bytes))
      return {
        state: 'chain broken',
        detail: `${record.name} does not follow heartbeat ${before.seq}`,
      }
  }
  const last = records.at(-1)!
  const latest = bodies.at(-1)!
  const head: SeenHead = { seq: latest.seq, hash: recordHash(last.bytes), time: latest.time }
  if (seen !== undefined) {
    if (latest.seq < seen.seq)
      return {
        state: 'replayed',
        detail: `the newest heartbeat is ${latest.seq}, but ${seen.seq} was verified at ${seen.time} (rolled back or truncated)`,
      }
    const same = records.find((r) => r.seq === seen.seq)
    if (same !== undefined && recordHash(same.bytes) !== seen.hash)
      return {
        state: 'chain broken',
        detail: `${same.name} differs from the heartbeat ${seen.seq} verified at ${seen.time}`,
      }
    if (same === undefined && records[0]!.seq > seen.seq)
      return {
        state: 'chain broken',
        detail: `heartbeats since ${seen.seq} (verified at ${seen.time}) are missing`,
      }
  }
  const age = now.getTime() - Date.parse(latest.time)
  const state =
    age > OFFLINE_AFTER_MS ? 'offline' : age > staleAfterMs(latest.intervalSeconds) ? 'stale' : 'ok'
  return { state, latest, head }
}
