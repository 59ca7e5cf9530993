import { setTimeout as sleep } from 'node:timers/promises'
import type { Agent } from '../home/agent-home.js'
import { backup, type BackupResult } from '../backup/backup.js'
import { PathWatcher } from './path-watcher.js'
import { syncFolder } from '../sync/sync-folder.js'
import { backoffDelay, type Backoff } from '../../store/retry.js'
import type { DaemonStatus } from '../home/status.js'
import { UserError } from '../../errors.js'

// `keystone agent run`: a backup pass every `intervalMs` (and, in watch mode, soon after files
// change); between passes, while objects are queued, upload attempts with capped exponential
// backoff and jitter (the store may be down for minutes or days; nothing is dropped meanwhile).
// Its status in the state is refreshed at least every minute, so a health check can tell a
// daemon that waits from one that hangs. Stops between steps when `signal` aborts.
export interface DaemonOptions {
  paths: string[]
  intervalMs: number
  retry: Backoff
  signal: AbortSignal
  log: (line: string) => void
  onPass?: (result: BackupResult) => void
  // A signed heartbeat after each pass, with the pass's error if it failed.
  heartbeat?: (errors: string[]) => Promise<void>
  watch?: { debounceMs: number }
  // Two-way folders: a sync round each per pass (its scan is a backup pass of the folder).
  twoWay?: { path: string; folder?: string }[]
}

export interface DaemonCounters {
  passes: { ok: number; queued: number; failed: number }
  conflicts: number // conflict copies kept by this daemon
  lastPassSeconds?: number // Unix time of the last pass's end
}

const TOUCH_MS = 60_000

export async function runDaemon(
  agent: Agent,
  options: DaemonOptions,
  counters?: DaemonCounters,
): Promise<void> {
  const { state, outbox } = agent
  let current: Omit<DaemonStatus, 'pid' | 'updated'> = { state: 'idle' }
  const report = (status: Omit<DaemonStatus, 'pid' | 'updated'>) => {
    current = status
    state.setMeta(
      'daemon',
      JSON.stringify({ pid: process.pid, updated: new Date().toISOString(), ...status }),
    )
  }
  const watcher =
    options.watch === undefined
      ? undefined
      : new PathWatcher(
          [...options.paths, ...(options.twoWay ?? []).map((f) => f.path)],
          options.watch.debounceMs,
          options.log,
        )
  // Waits until `deadline`, refreshing the status every minute; in watch mode, also until
  // changes have settled (when `early`).
  const waitUntil = async (deadline: number, early: boolean) => {
    while (!options.signal.aborted && Date.now() < deadline) {
      const step = new AbortController()
      const stop = () => step.abort()
      options.signal.addEventListener('abort', stop, { once: true })
      const timer = sleep(Math.min(deadline - Date.now(), TOUCH_MS), 'timer', {
        signal: step.signal,
      }).catch(() => 'stopped')
      const changed =
        early && watcher !== undefined && !watcher.failed
          ? watcher.settled(step.signal).then(() => 'changed')
          : undefined
      const why = await Promise.race(changed === undefined ? [timer] : [timer, changed])
      step.abort()
      options.signal.removeEventListener('abort', stop)
      if (why === 'changed') return
      report(current)
    }
  }

  try {
    while (!options.signal.aborted) {
      watcher?.consume()
      report({ state: 'backing-up' })
      let lastError: string | undefined
      for (const folder of options.twoWay ?? []) {
        try {
          const round = await syncFolder(agent, {
            root: folder.path,
            ...(folder.folder !== undefined && { folder: folder.folder }),
          })
          if (counters !== undefined) counters.conflicts += round.conflicts.length
          options.log(
            `${folder.path}: ${round.published === undefined ? `in step with head ${round.head}` : `published head ${round.published}`}, ${round.applied} applied${round.conflicts.length > 0 ? `, conflicts kept: ${round.conflicts.join(', ')}` : ''}`,
          )
        } catch (error) {
          if (!(error instanceof UserError)) throw error
          lastError = `${folder.path}: ${error.message}`
          options.log(`sync of ${folder.path} failed: ${error.message}`)
        }
      }
      if (options.paths.length > 0)
        try {
          const result = await backup(agent, { paths: options.paths })
          options.onPass?.(result)
          if (counters !== undefined) counters.passes[result.queued ? 'queued' : 'ok']++
          options.log(
            result.queued
              ? `snapshot ${result.snapshot.slice(10, 18)} queued: the store is unreachable (${result.offlineReason})`
              : `snapshot ${result.snapshot.slice(10, 18)}: ${result.stats.files} files, ${result.stats.readFiles} read, ${result.stats.uploadedBytes} bytes uploaded`,
          )
        } catch (error) {
          if (!(error instanceof UserError)) throw error
          lastError = error.message
          if (counters !== undefined) counters.passes.failed++
          options.log(`backup failed: ${error.message}`)
        }
      if (counters !== undefined) counters.lastPassSeconds = Math.round(Date.now() / 1000)
      if (options.heartbeat !== undefined)
        await options
          .heartbeat(lastError === undefined ? [] : [lastError])
          .catch((error: unknown) => {
            if (!(error instanceof UserError)) throw error
            options.log(`heartbeat not published: ${error.message}`)
          })
      const nextPass = Date.now() + options.intervalMs
      for (
        let attempt = 0;
        state.queue().length > 0 && !options.signal.aborted && Date.now() < nextPass;
        attempt++
      ) {
        const delay = Math.min(backoffDelay(attempt, options.retry), nextPass - Date.now())
        report({
          state: 'offline',
          nextRetry: new Date(Date.now() + delay).toISOString(),
          lastError: outbox.offlineReason ?? lastError,
        })
        await waitUntil(Date.now() + delay, false)
        if (options.signal.aborted) break
        report({ state: 'draining' })
        if (await outbox.drain({ ...options.retry, attempts: 1 }))
          options.log('the store is back: the queue is uploaded')
      }
      report({
        state: 'idle',
        nextPass: new Date(nextPass).toISOString(),
        ...(lastError !== undefined && { lastError }),
      })
      await waitUntil(nextPass, true)
    }
  } finally {
    watcher?.close()
  }
}
