import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { UserError } from '../../errors.js'
import { IntegrityError } from './crypto/integrity-error.js'
import { open, seal } from './crypto/seal.js'
import type { Repository } from './repository.js'
import { ObjectMissing } from '../../store/store.js'

// Leases keep `prune` from deleting what a running backup needs. A backup holds a shared lease
// (`locks/<random>`), a prune the exclusive one (`locks/exclusive`, created with a conditional
// write: If-None-Match on S3, link() on a folder). Each side writes its own lease first and then
// looks for the other's, so of a backup and a prune starting together at least one sees the
// other and backs off. A lease expires unless refreshed (a crashed holder blocks nobody for
// long); holders refresh at a third of the term.
export const LEASE_MS = 5 * 60_000
const AAD = Buffer.from('keystone lease v1')

interface LeaseBody {
  kind: 'shared' | 'exclusive'
  host: string
  pid: number
  expires: string
}

export class Lease {
  #timer: NodeJS.Timeout | undefined

  private constructor(
    readonly repo: Repository,
    readonly name: string,
    readonly body: LeaseBody,
  ) {}

  static async shared(repo: Repository, label = hostname()): Promise<Lease> {
    const lease = new Lease(repo, `locks/${randomBytes(16).toString('hex')}`, body('shared', label))
    await repo.store.put(lease.name, lease.#sealed())
    const other = await readLease(repo, 'locks/exclusive')
    if (other !== undefined && live(other)) {
      await lease.release()
      throw new UserError(
        `prune is running on ${other.host} (its lease runs until ${other.expires})`,
        {
          hint: 'the backup can run when it ends; the agent daemon retries by itself',
        },
      )
    }
    lease.#keepAlive()
    return lease
  }

  static async exclusive(repo: Repository, label = hostname()): Promise<Lease> {
    const lease = new Lease(repo, 'locks/exclusive', body('exclusive', label))
    for (let attempt = 0; !(await repo.store.putIfAbsent(lease.name, lease.#sealed())); attempt++) {
      const other = await readLease(repo, lease.name)
      if (other !== undefined && live(other))
        throw new UserError(
          `another prune is running on ${other.host} (its lease runs until ${other.expires})`,
        )
      if (attempt > 0) throw new UserError('could not take the prune lease; try again')
      await repo.store.delete(lease.name) // expired: its holder crashed
    }
    for (const o of await repo.list('locks/')) {
      if (o.name === lease.name) continue
      const other = await readLease(repo, o.name)
      if (other === undefined) continue
      if (!live(other)) {
        await repo.store.delete(o.name)
        continue
      }
      await lease.release()
      throw new UserError(
        `a backup is running on ${other.host} (its lease runs until ${other.expires})`,
        {
          hint: 'prune never deletes data a running backup needs; run it again when the backup ends',
        },
      )
    }
    lease.#keepAlive()
    return lease
  }

  #sealed(): Buffer {
    return seal(this.repo.keys.seal, Buffer.from(JSON.stringify(this.body)), AAD)
  }

  #keepAlive(): void {
    this.#timer = setInterval(() => {
      this.body.expires = new Date(Date.now() + LEASE_MS).toISOString()
      this.repo.store.put(this.name, this.#sealed()).catch(() => undefined) // retried next tick
    }, LEASE_MS / 3)
    this.#timer.unref()
  }

  async release(): Promise<void> {
    clearInterval(this.#timer)
    await this.repo.store.delete(this.name).catch(() => undefined) // it expires anyway
  }
}

const body = (kind: LeaseBody['kind'], host: string): LeaseBody => ({
  kind,
  host,
  pid: process.pid,
  expires: new Date(Date.now() + LEASE_MS).toISOString(),
})

const live = (lease: LeaseBody) => Date.parse(lease.expires) > Date.now()

async function readLease(repo: Repository, name: string): Promise<LeaseBody | undefined> {
  let bytes: Buffer
  try {
    bytes = await repo.store.get(name)
  } catch (error) {
    if (error instanceof ObjectMissing) return undefined
    throw error
  }
  const plain = open(repo.keys.seal, bytes, AAD)
  if (plain === undefined) throw new IntegrityError(name, 'the lease does not authenticate')
  return JSON.parse(plain.toString('utf8')) as LeaseBody
}
