import type { ChainFields } from './signed-record.js'

// What a host's agent reports about itself, every pass: `fleet/<host>/<seq>.json` in its
// store, signed with the agent's key. The audit log of the agent's important events is a chain
// of its own beside it: `fleet/<host>/audit/<seq>.json`.
export interface HostReport {
  lastPass?: { time: string; snapshot: string; queued: boolean }
  lastSuccess?: string // time of the last pass that reached the store
  pending: { objects: number; bytes: number }
  errors: string[]
  conflicts: number // conflict copies kept since the agent started
  freeBytes?: number // on the file system of the first synced path
  secureBoot: 'enabled' | 'disabled' | 'setup-mode' | 'no-uefi' | 'unknown'
  tpm: { present: boolean; pcrs: Record<string, string> } // PCR index → SHA-256 bank, hex
}

export interface Heartbeat extends ChainFields {
  kind: 'heartbeat'
  agentVersion: string
  intervalSeconds: number // when the next one is due
  report: HostReport
  audit?: { seq: number; hash: string } // the audit log's head: the two chains are bound
}

export interface AuditEvent extends ChainFields {
  kind: 'audit'
  event: {
    type: 'snapshot-published' | 'conflict-kept' | 'key-added' | 'key-removed'
    detail: string
  }
}

const width = 12 // zero-padded, so names list in order
export const heartbeatName = (host: string, seq: number) =>
  `fleet/${host}/${String(seq).padStart(width, '0')}.json`
export const auditName = (host: string, seq: number) =>
  `fleet/${host}/audit/${String(seq).padStart(width, '0')}.json`

// The sequence number an object name claims, or undefined for a name of another kind.
export function seqOfName(
  name: string,
  host: string,
  log: 'heartbeat' | 'audit',
): number | undefined {
  const prefix = log === 'heartbeat' ? `fleet/${host}/` : `fleet/${host}/audit/`
  if (!name.startsWith(prefix)) return undefined
  const m = /^(\d{1,16})\.json$/.exec(name.slice(prefix.length))
  return m === null ? undefined : Number(m[1])
}
