import { existsSync } from 'node:fs'
import type { AgentHome } from './agent-home.js'
import { AgentState } from './state.js'
import { openStore } from '../../store/open-store.js'
import { StoreUnavailable } from '../../store/store.js'

// `keystone agent status`: what this device's agent knows, without the keys: whether the store
// answers, what waits in the queue, the last pass and what the daemon is doing.
export interface StatusReport {
  store: string
  state: 'online' | 'offline'
  offlineReason?: string
  pending: { objects: number; bytes: number; snapshots: number }
  lastBackup?: { time: string; snapshot: string; queued: boolean }
  daemon?: DaemonStatus
}

export interface DaemonStatus {
  pid: number
  state: 'idle' | 'backing-up' | 'draining' | 'offline'
  updated: string
  nextPass?: string
  nextRetry?: string
  lastError?: string
}

export async function agentStatus(home: AgentHome): Promise<StatusReport> {
  const settings = home.readSettings()
  const store = await openStore(settings)
  let offlineReason: string | undefined
  try {
    await store.get('config')
  } catch (error) {
    if (!(error instanceof StoreUnavailable)) throw error
    offlineReason = error.message
  }
  const report: StatusReport = {
    store: store.url,
    state: offlineReason === undefined ? 'online' : 'offline',
    ...(offlineReason !== undefined && { offlineReason }),
    pending: { objects: 0, bytes: 0, snapshots: 0 },
  }
  if (!existsSync(home.stateFile)) return report
  const state = new AgentState(home.stateFile)
  try {
    const queue = state.queue()
    report.pending = {
      objects: queue.length,
      bytes: queue.reduce((n, q) => n + q.bytes, 0),
      snapshots: queue.filter((q) => q.kind === 'snapshot').length,
    }
    const last = state.meta('last-pass')
    if (last !== undefined) {
      const { time, snapshot, queued } = JSON.parse(last) as {
        time: string
        snapshot: string
        queued: boolean
      }
      report.lastBackup = { time, snapshot: snapshot.slice('snapshots/'.length), queued }
    }
    const daemon = state.meta('daemon')
    if (daemon !== undefined) report.daemon = JSON.parse(daemon) as DaemonStatus
  } finally {
    state.close()
  }
  return report
}
