import type { KeyObject } from 'node:crypto'
import { UserError } from '../errors.js'
import { readEnrollmentRecord } from '../records/enrollment-record.js'
import type { Host } from '../host/host-schema.js'
import { openStore, type StoreSettings } from '../store/open-store.js'
import { ObjectMissing, type Store } from '../store/store.js'
import { heartbeatName, seqOfName, type Heartbeat } from '../records/heartbeat.js'
import { judgeHeartbeats, type FetchedRecord, type HostState } from './judge-heartbeats.js'
import type { SeenHeartbeats } from './seen-heartbeats.js'
import { parsePublicKey } from '../records/signing-key.js'

// `keystone fleet status`: for every host in git, its heartbeats from its store, verified
// against the agent key its host file pins; what its TPM reports against what `keystone enroll`
// recorded. Nothing but the bucket is asked: no server, no SSH.
export interface FleetRow {
  host: string
  state: HostState
  detail?: string
  lastSeen?: string
  lastPass?: string
  lastSuccess?: string
  pending?: { objects: number; bytes: number }
  conflicts?: number
  errors?: string[]
  freeBytes?: number
  secureBoot?: string
  tpm?: string
  enrollment?: string
  agentVersion?: string
}

export interface FleetStatusOptions {
  fleetRoot: string
  hosts: readonly Host[]
  seen: SeenHeartbeats
  credentialsFile?: string
  caFile?: string // the admin's copy of the private CA of a self-hosted server over https
  now?: Date
}

const TAIL = 10 // heartbeats verified when the laptop remembers none of this host's

export async function fleetStatus(options: FleetStatusOptions): Promise<FleetRow[]> {
  const stores = new Map<string, Promise<Store>>()
  const storeOf = (host: Host) => {
    const settings: StoreSettings = {
      store: host.sync.store!,
      region: host.sync.region,
      pathStyle: host.sync.pathStyle,
      ...(host.sync.endpoint !== null && { endpoint: host.sync.endpoint }),
      ...(options.credentialsFile !== undefined && { credentialsFile: options.credentialsFile }),
      ...(options.caFile !== undefined && { caFile: options.caFile }),
    }
    const id = JSON.stringify(settings)
    if (!stores.has(id)) stores.set(id, openStore(settings))
    return stores.get(id)!
  }
  const rows = await Promise.all(
    options.hosts.map(async (host): Promise<FleetRow> => {
      if (!host.sync.enable || host.sync.store === null)
        return {
          host: host.name,
          state: 'never seen',
          detail: 'the sync agent is not enabled in its host file',
        }
      const key = host.sync.agentKey === null ? undefined : parsePublicKey(host.sync.agentKey)
      if (key === undefined)
        return {
          host: host.name,
          state: 'unpinned',
          detail:
            'no agent key in its host file (`keystone deploy` pins it); its heartbeats cannot be verified',
        }
      try {
        const store = await storeOf(host)
        return await hostRow(host, key, store, options)
      } catch (error) {
        if (!(error instanceof UserError)) throw error
        return { host: host.name, state: 'unreachable', detail: error.message }
      }
    }),
  )
  await options.seen.save()
  return rows
}

async function hostRow(
  host: Host,
  key: KeyObject,
  store: Store,
  options: FleetStatusOptions,
): Promise<FleetRow> {
  const seqs = (await store.list(`fleet/${host.name}/`))
    .map((o) => seqOfName(o.name, host.name, 'heartbeat'))
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b)
  const seen = options.seen.get(store.url, host.name)
  const newest = seqs.at(-1) ?? 0
  // From the newest heartbeat verified before, so that nothing since then goes unchecked.
  const from = seen !== undefined && seen.seq <= newest ? seen.seq : newest - TAIL + 1
  const records: FetchedRecord[] = []
  const wanted = seqs.filter((s) => s >= from)
  for (let i = 0; i < wanted.length; i += 16) {
    const batch = wanted.slice(i, i + 16)
    records.push(
      ...(
        await Promise.all(
          batch.map(async (seq) => {
            const name = heartbeatName(host.name, seq)
            try {
              return [{ name, seq, bytes: await store.get(name) }]
            } catch (error) {
              // Deleted since the listing: judged as a gap in the chain.
              if (error instanceof ObjectMissing) return []
              throw error
            }
          }),
        )
      ).flat(),
    )
  }
  const verdict = judgeHeartbeats(host.name, key, records, seen, options.now ?? new Date())
  if (verdict.head !== undefined) options.seen.set(store.url, host.name, verdict.head)
  const row: FleetRow = {
    host: host.name,
    state: verdict.state,
    ...(verdict.detail !== undefined && { detail: verdict.detail }),
  }
  const hb = verdict.latest
  if (hb === undefined) return row
  const r = hb.report
  return {
    ...row,
    lastSeen: hb.time,
    ...(r.lastPass !== undefined && { lastPass: r.lastPass.time }),
    ...(r.lastSuccess !== undefined && { lastSuccess: r.lastSuccess }),
    pending: r.pending,
    conflicts: r.conflicts,
    errors: r.errors,
    ...(r.freeBytes !== undefined && { freeBytes: r.freeBytes }),
    secureBoot: r.secureBoot,
    tpm: r.tpm.present ? 'present' : 'absent',
    enrollment: enrollmentMatch(hb, host, options.fleetRoot),
    agentVersion: hb.agentVersion,
  }
}

// Whether the PCR values the host reports are still those `keystone enroll` bound it to.
function enrollmentMatch(hb: Heartbeat, host: Host, fleetRoot: string): string {
  const record = readEnrollmentRecord(fleetRoot, host.name)
  if (record === undefined) return host.tpm.enable ? 'not enrolled' : 'no TPM unlock'
  if (!hb.report.tpm.present) return 'TPM missing'
  const changed: string[] = []
  for (const [pcr, value] of Object.entries(record.pcrs)) {
    const now = hb.report.tpm.pcrs[pcr]
    if (now === undefined) return `unknown (PCR ${pcr} not reported)`
    if (now !== value) changed.push(pcr)
  }
  return changed.length === 0 ? 'matches' : `changed (PCR ${changed.join('+')})`
}
