import type { KeyObject } from 'node:crypto'
import type { Agent } from '../home/agent-home.js'
import { keystoneVersion } from '../../version.js'
import { dropFirstAuditEvent, pendingAuditEvents } from '../home/audit-queue.js'
import { ChainWriter, type ChainHead } from './chain-writer.js'
import type { AuditEvent, Heartbeat, HostReport } from '../../records/heartbeat.js'
import { freeBytes, secureBootState, tpmState } from './host-facts.js'

// One heartbeat of this host into its store: first the audit events waiting in the state, then
// the heartbeat, which names the audit log's head so the two chains vouch for each other.
// Throws StoreUnavailable when the store does not answer; nothing is lost, the next one retries.
export interface HeartbeatOptions {
  key: KeyObject
  intervalSeconds: number
  pcrs: readonly number[] // the PCRs the credstore is bound to (the host file's tpm.pcrs)
  paths: readonly string[]
  errors?: readonly string[]
  conflicts?: number
  root?: string // where /sys is read from; '/' on a host
}

export async function publishHeartbeat(
  agent: Agent,
  options: HeartbeatOptions,
): Promise<ChainHead> {
  const { store, state, settings } = agent
  const host = settings.label
  const audit = new ChainWriter(store, state, host, options.key, 'audit')
  for (const event of pendingAuditEvents(state)) {
    const { time: _queuedAt, ...what } = event
    await audit.append((fields): AuditEvent => ({ ...fields, kind: 'audit', event: what }))
    dropFirstAuditEvent(state)
  }
  const heartbeats = new ChainWriter(store, state, host, options.key, 'heartbeat')
  const report = hostReport(agent, options)
  const auditHead = audit.head()
  return heartbeats.append((fields): Heartbeat => ({
    ...fields,
    kind: 'heartbeat',
    agentVersion: keystoneVersion,
    intervalSeconds: options.intervalSeconds,
    report,
    ...(auditHead !== undefined && { audit: auditHead }),
  }))
}

function hostReport(agent: Agent, options: HeartbeatOptions): HostReport {
  const { state } = agent
  const queue = state.queue()
  const last = state.meta('last-pass')
  const lastPass =
    last === undefined
      ? undefined
      : (JSON.parse(last) as { time: string; snapshot: string; queued: boolean })
  const lastSuccess = state.meta('last-success')
  const free = options.paths.length > 0 ? freeBytes(options.paths[0]!) : undefined
  return {
    ...(lastPass !== undefined && {
      lastPass: {
        time: lastPass.time,
        snapshot: lastPass.snapshot.slice('snapshots/'.length),
        queued: lastPass.queued,
      },
    }),
    ...(lastSuccess !== undefined && { lastSuccess }),
    pending: { objects: queue.length, bytes: queue.reduce((n, q) => n + q.bytes, 0) },
    errors: [...(options.errors ?? [])],
    conflicts: options.conflicts ?? 0,
    ...(free !== undefined && { freeBytes: free }),
    secureBoot: secureBootState(options.root),
    tpm: tpmState(options.pcrs, options.root),
  }
}
