import { createServer, type Server } from 'node:http'
import { UsageError } from '../../errors.js'
import type { AgentState } from '../home/state.js'
import type { DaemonCounters } from './daemon.js'

// Prometheus metrics of the daemon, on loopback only (`--metrics 127.0.0.1:9464`): passes by
// outcome, the last pass's time, what waits in the queue. /healthz answers 200 while the daemon's
// status was refreshed within `healthyWithinMs` (it is at least every minute), else 503.
export function parseLoopbackAddress(text: string): { host: string; port: number } {
  const m = /^(127\.0\.0\.1|\[::1\]|localhost):(\d{1,5})$/.exec(text)
  if (m === null || Number(m[2]) === 0 || Number(m[2]) > 65535)
    throw new UsageError(
      `--metrics ${text}: expected a loopback address and port`,
      'e.g. --metrics 127.0.0.1:9464; metrics never leave the host',
    )
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }
}

export function renderMetrics(state: AgentState, counters: DaemonCounters): string {
  const queue = state.queue()
  const lines = [
    '# HELP keystone_agent_passes_total Backup passes since the daemon started, by outcome.',
    '# TYPE keystone_agent_passes_total counter',
    ...Object.entries(counters.passes).map(
      ([result, n]) => `keystone_agent_passes_total{result="${result}"} ${n}`,
    ),
    '# HELP keystone_agent_last_pass_timestamp_seconds When the last pass ended.',
    '# TYPE keystone_agent_last_pass_timestamp_seconds gauge',
    `keystone_agent_last_pass_timestamp_seconds ${counters.lastPassSeconds ?? 0}`,
    '# HELP keystone_agent_pending_objects Objects queued on this device for the store.',
    '# TYPE keystone_agent_pending_objects gauge',
    `keystone_agent_pending_objects ${queue.length}`,
    '# HELP keystone_agent_pending_bytes Bytes queued on this device for the store.',
    '# TYPE keystone_agent_pending_bytes gauge',
    `keystone_agent_pending_bytes ${queue.reduce((n, q) => n + q.bytes, 0)}`,
  ]
  return lines.join('\n') + '\n'
}

export function daemonFresh(state: AgentState, withinMs: number, now = Date.now()): boolean {
  const text = state.meta('daemon')
  if (text === undefined) return false
  const { updated } = JSON.parse(text) as { updated: string }
  return now - Date.parse(updated) <= withinMs
}

export async function serveMetrics(
  address: string,
  state: AgentState,
  counters: DaemonCounters,
  healthyWithinMs: number,
): Promise<Server> {
  const { host, port } = parseLoopbackAddress(address)
  const server = createServer((req, res) => {
    if (req.method !== 'GET') return res.writeHead(405).end()
    if (req.url === '/metrics')
      return res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
        .end(renderMetrics(state, counters))
    if (req.url === '/healthz') {
      const fresh = daemonFresh(state, healthyWithinMs)
      return res
        .writeHead(fresh ? 200 : 503, { 'content-type': 'text/plain' })
        .end(fresh ? 'ok\n' : 'stalled\n')
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  return server
}
