import { lstatSync } from 'node:fs'
import { hostname } from 'node:os'
import { UserError } from '../../errors.js'
import type { Entry } from '../repository/format/manifest.js'
import type { Snapshot } from '../repository/format/snapshot-object.js'
import type { Agent } from '../home/agent-home.js'
import { queueAuditEvent } from '../home/audit-queue.js'
import { Lease } from '../repository/lease.js'
import { StoreUnavailable } from '../../store/store.js'
import { commitSnapshot } from './commit-snapshot.js'
import { Packer } from './packer.js'
import { batchReads, entriesOf, fileRowsOf, lastSnapshotKey, planPass } from './plan-pass.js'
import { readChanged } from './read-changed.js'
import { scan } from './scan.js'
import { syncIndexes } from './sync-index.js'

// One backup pass: scan, plan (plan-pass.ts: which files to read, which to reuse), read and
// chunk what changed (read-changed.ts) into packs (packer.ts), then commit the index and the
// snapshot (commit-snapshot.ts: packs → index → snapshot). If the store stops answering, the
// pass goes on into the local spool and the snapshot is queued, never lost.
export interface BackupOptions {
  paths: string[]
  host?: string
  // Pack uploads in flight, 2 by default: with one pack filling, that keeps the link busy and
  // holds three 8 MiB packs in memory; each more costs 8 MiB for no speed on a fast link.
  uploads?: number
}

export interface BackupResult {
  snapshot: string
  entries: Entry[] // the manifest (a two-way folder merges it)
  queued: boolean
  offlineReason?: string
  stats: Snapshot['stats'] & {
    readFiles: number
    readBytes: number
    uploads: number
    uploadedBytes: number
  }
  skipped: string[]
}

// Whether the store answers, at the start of a pass: two quick tries, not the full backoff.
const PROBE = { baseMs: 100, capMs: 1_000, attempts: 2 }
export async function backup(agent: Agent, options: BackupOptions): Promise<BackupResult> {
  // A mistyped path must not become an empty snapshot that looks like a good backup.
  const missing = options.paths.filter((p) => lstatSync(p, { throwIfNoEntry: false }) === undefined)
  if (missing.length > 0)
    throw new UserError(`${missing.join(', ')}: no such file or directory`, {
      hint: 'name paths that exist; nothing was backed up',
    })
  const { repo, state, outbox } = agent
  const host = options.host ?? agent.settings.label ?? hostname()
  let lease: Lease | undefined
  outbox.offlineReason = undefined // each pass tries the store again
  outbox.uploads = 0
  outbox.uploadedBytes = 0
  try {
    if (state.queue().length > 0 && !(await outbox.drain(PROBE)))
      throw new StoreUnavailable(outbox.offlineReason ?? 'store unavailable')
    lease = await Lease.shared(repo, host)
    await syncIndexes(repo, state)
  } catch (error) {
    if (!(error instanceof StoreUnavailable)) {
      await lease?.release()
      throw error
    }
    outbox.goOffline(error.message)
  }
  try {
    return await pass(agent, options, host)
  } finally {
    await lease?.release()
  }
}

async function pass(agent: Agent, options: BackupOptions, host: string): Promise<BackupResult> {
  const { state, outbox } = agent
  // A snapshot is dated when its scan began: it holds nothing newer than that.
  const started = new Date()
  const { entries: scanned, skipped } = scan(options.paths)
  // In one read transaction: 200,000 lookups, one snapshot of the index.
  const plan = state.transaction(() =>
    planPass(
      scanned,
      { get: (path) => state.fileRow(path) },
      state.filesChecked() ? undefined : (id) => state.hasBlob(id),
    ),
  )

  const packer = new Packer(agent, options.uploads ?? 2)
  const read = await readChanged(agent, batchReads(plan.read), packer)
  await packer.flush('data')
  skipped.push(...read.skipped)

  // A file is either reused or read, never both: two lookups rather than a merged copy of both.
  const chunksOf = { get: (path: string) => read.chunksOf.get(path) ?? plan.reuse.get(path) }
  const entries = entriesOf(scanned, chunksOf, read.sizeOf, read.failed)
  const key = lastSnapshotKey(host, options.paths)
  const parent = state.meta(key)
  const { name, placed, snapshot } = await commitSnapshot(agent, packer, entries, {
    time: started,
    host,
    paths: options.paths,
    ...(parent !== undefined && { parent }),
  })

  // Only now does the file index learn the new chunk lists: they are all stored or queued.
  state.transaction(() => {
    state.putFiles(fileRowsOf(plan.read, read.chunksOf, read.sizeOf, read.failed))
    state.setMeta(key, name)
    state.setMeta('files-checked', 'yes')
    if (placed !== 'queued') {
      state.setMeta('last-success', snapshot.time)
      queueAuditEvent(state, {
        type: 'snapshot-published',
        detail: name.slice('snapshots/'.length),
      })
    }
    state.setMeta(
      'last-pass',
      JSON.stringify({
        time: snapshot.time,
        snapshot: name,
        queued: placed === 'queued',
        stats: snapshot.stats,
      }),
    )
  })
  return {
    snapshot: name,
    entries,
    queued: placed === 'queued',
    ...(outbox.offlineReason !== undefined && { offlineReason: outbox.offlineReason }),
    stats: {
      ...snapshot.stats,
      readFiles: plan.read.length - read.failed.size,
      readBytes: read.readBytes,
      uploads: outbox.uploads,
      uploadedBytes: outbox.uploadedBytes,
    },
    skipped,
  }
}
