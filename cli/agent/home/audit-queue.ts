import type { AgentState } from './state.js'
import type { AuditEvent } from '../../records/heartbeat.js'

// Audit events wait in the agent's state until a heartbeat publishes them, in order: an event
// that happened while the store was down, or before a signing key was set up, is not lost.
const KEY = 'audit-pending'
const LIMIT = 10_000 // a device that never publishes keeps the newest ones

export type PendingEvent = AuditEvent['event'] & { time: string }

export function queueAuditEvent(state: AgentState, event: AuditEvent['event']): void {
  const pending = pendingAuditEvents(state)
  pending.push({ ...event, time: new Date().toISOString() })
  state.setMeta(KEY, JSON.stringify(pending.slice(-LIMIT)))
}

export function pendingAuditEvents(state: AgentState): PendingEvent[] {
  const text = state.meta(KEY)
  return text === undefined ? [] : (JSON.parse(text) as PendingEvent[])
}

export function dropFirstAuditEvent(state: AgentState): void {
  state.setMeta(KEY, JSON.stringify(pendingAuditEvents(state).slice(1)))
}
