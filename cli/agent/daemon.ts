import { setTimeout as sleep } from 'node:timers/promises'
import type { Agent } from './agent-home.js'
import { backup, type BackupResult } from './backup.js'
import { backoffDelay, type Backoff } from './store/retry.js'
import type { DaemonStatus } from './status.js'
import { UserError } from '../errors.js'

// `keystone agent run`: a backup pass every `intervalMs`; between passes, while objects are
// queued, upload attempts with capped exponential backoff and jitter (the store may be down for
// minutes or days; nothing is dropped meanwhile). Stops between steps when `signal` aborts.
export interface DaemonOptions {
  paths: string[]
  intervalMs: number
  retry: Backoff
  signal: AbortSignal
  log: (line: string) => void
  onPass?: (result: BackupResult) => void
  // A signed heartbeat after each pass, with the pass's error if it failed.
  heartbeat?: (errors: string[]) => Promise<void>
}

export async function runDaemon(agent: Agent, options: DaemonOptions): Promise<void> {
  const { state, outbox } = agent
  const report = (status: Omit<DaemonStatus, 'pid' | 'updated'>) =>
    state.setMeta(
      'daemon',
      JSON.stringify({ pid: process.pid, updated: new Date().toISOString(), ...status }),
    )
  const wait = (ms: number) =>
    sleep(ms, undefined, { signal: options.signal }).catch(() => undefined)

  while (!options.signal.aborted) {
    report({ state: 'backing-up' })
    let lastError: string | undefined
    try {
      const result = await backup(agent, { paths: options.paths })
      options.onPass?.(result)
      options.log(
        result.queued
          ? `snapshot ${result.snapshot.slice(10, 18)} queued: the store is unreachable (${result.offlineReason})`
          : `snapshot ${result.snapshot.slice(10, 18)}: ${result.stats.files} files, ${result.stats.readFiles} read, ${result.stats.uploadedBytes} bytes uploaded`,
      )
    } catch (error) {
      if (!(error instanceof UserError)) throw error
      lastError = error.message
      options.log(`backup failed: ${error.message}`)
    }
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
      await wait(delay)
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
    await wait(nextPass - Date.now())
  }
}
