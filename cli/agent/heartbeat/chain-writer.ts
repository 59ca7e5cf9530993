import { createPublicKey, type KeyObject } from 'node:crypto'
import { UserError } from '../../errors.js'
import type { AgentState } from '../home/state.js'
import type { Store } from '../../store/store.js'
import { auditName, heartbeatName, seqOfName } from '../../records/heartbeat.js'
import {
  decodeSigned,
  encodeSigned,
  recordHash,
  type ChainFields,
} from '../../records/signed-record.js'

// Appends signed records to one of a host's chains in its store (heartbeats or the audit log).
// Each name is written only if absent, and the head (sequence number and hash) is noted in the
// agent's state only once the store has the record: a crash in between is found on the next
// append, which adopts the record it finds under its name when it is this agent's own.
export type ChainLog = 'heartbeat' | 'audit'

export interface ChainHead {
  seq: number
  hash: string
}

export class ChainWriter {
  readonly #publicKey: KeyObject
  readonly #nameOf: (host: string, seq: number) => string

  constructor(
    readonly store: Store,
    readonly state: AgentState,
    readonly host: string,
    readonly key: KeyObject,
    readonly log: ChainLog,
  ) {
    this.#publicKey = createPublicKey(key)
    this.#nameOf = log === 'heartbeat' ? heartbeatName : auditName
  }

  get #metaKey(): string {
    return `chain:${this.log}:${this.host}`
  }

  head(): ChainHead | undefined {
    const text = this.state.meta(this.#metaKey)
    return text === undefined ? undefined : (JSON.parse(text) as ChainHead)
  }

  #setHead(head: ChainHead): void {
    this.state.setMeta(this.#metaKey, JSON.stringify(head))
  }

  // The newest record already in the store, when this device has no head (a new state file).
  async #recover(): Promise<ChainHead | undefined> {
    const prefix = this.log === 'heartbeat' ? `fleet/${this.host}/` : `fleet/${this.host}/audit/`
    const seqs = (await this.store.list(prefix))
      .map((o) => seqOfName(o.name, this.host, this.log))
      .filter((n): n is number => n !== undefined)
    if (seqs.length === 0) return undefined
    const seq = Math.max(...seqs)
    return this.#adopt(seq, undefined)
  }

  async #adopt(seq: number, prev: string | null | undefined): Promise<ChainHead> {
    const name = this.#nameOf(this.host, seq)
    const bytes = await this.store.get(name)
    const decoded = decodeSigned<ChainFields>(bytes, this.#publicKey)
    if (
      !decoded.ok ||
      decoded.body.host !== this.host ||
      decoded.body.seq !== seq ||
      (prev !== undefined && decoded.body.prev !== prev)
    )
      throw new UserError(
        `${this.store.url}: ${name} is in the way and is not this agent's record${decoded.ok ? '' : ` (${decoded.reason})`}`,
        {
          hint: "someone else wrote into this host's chain; `keystone fleet status` shows what the admin sees",
        },
      )
    const head = { seq, hash: recordHash(bytes) }
    this.#setHead(head)
    return head
  }

  // Publishes the record `make` builds around the next chain fields; throws StoreUnavailable
  // (nothing noted) when the store does not answer.
  async append<T extends ChainFields>(make: (fields: ChainFields) => T): Promise<ChainHead> {
    let head = this.head() ?? (await this.#recover())
    for (;;) {
      const fields: ChainFields = {
        version: 1,
        host: this.host,
        seq: (head?.seq ?? 0) + 1,
        time: new Date().toISOString(),
        prev: head?.hash ?? null,
      }
      const bytes = encodeSigned(make(fields), this.key)
      if (await this.store.putIfAbsent(this.#nameOf(this.host, fields.seq), bytes)) {
        const next = { seq: fields.seq, hash: recordHash(bytes) }
        this.#setHead(next)
        return next
      }
      head = await this.#adopt(fields.seq, fields.prev)
    }
  }
}
