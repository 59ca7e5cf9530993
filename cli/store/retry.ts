import { setTimeout as sleep } from 'node:timers/promises'
import { StoreUnavailable } from './store.js'

// Capped exponential backoff with full jitter (a random wait between 0 and min(cap, base·2^n)):
// a fleet of agents that lost the store together does not hammer it together when it returns.
export interface Backoff {
  baseMs: number
  capMs: number
  attempts: number // tries in all, the first included
}

export const QUICK: Backoff = { baseMs: 200, capMs: 5_000, attempts: 6 }

export const backoffDelay = (attempt: number, b: Backoff, random = Math.random) =>
  Math.floor(random() * Math.min(b.capMs, b.baseMs * 2 ** attempt))

// Runs `op` until it succeeds, retrying only while the store is unavailable; after the last
// attempt the StoreUnavailable error propagates, which the caller turns into queued work.
export async function retrying<T>(op: () => Promise<T>, backoff: Backoff = QUICK): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await op()
    } catch (error) {
      if (!(error instanceof StoreUnavailable) || attempt + 1 >= backoff.attempts) throw error
      await sleep(backoffDelay(attempt, backoff))
    }
  }
}
