import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { UserError } from '../errors.js'
import { writeFileAtomic } from '../fs/write-file-atomic.js'
import type { SeenHead } from './judge-heartbeats.js'

// The newest heartbeat of each host that this laptop verified, by store and host: the memory
// that turns a bucket rolled back to older (validly signed) heartbeats into `replayed`.
export class SeenHeartbeats {
  readonly #heads: Record<string, SeenHead>

  constructor(readonly file: string) {
    if (!existsSync(file)) {
      this.#heads = {}
      return
    }
    try {
      this.#heads = JSON.parse(readFileSync(file, 'utf8')) as Record<string, SeenHead>
    } catch (error) {
      throw new UserError(`${file}: not readable JSON (${(error as Error).message})`, {
        hint: 'remove it: fleet status then trusts the heartbeats it finds, as on a new laptop',
      })
    }
  }

  get(store: string, host: string): SeenHead | undefined {
    return this.#heads[`${store} ${host}`]
  }

  set(store: string, host: string, head: SeenHead): void {
    this.#heads[`${store} ${host}`] = head
  }

  async save(): Promise<void> {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 })
    await writeFileAtomic(this.file, JSON.stringify(this.#heads, null, 2) + '\n')
  }
}
