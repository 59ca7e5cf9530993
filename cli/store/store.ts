import { UserError } from '../errors.js'
import { ExitCode } from '../exit-codes.js'

// Where a repository's objects live: a local folder or an S3 bucket. Every object is written
// once under its final name (packs, indexes and snapshots are named by their content), so the
// interface needs no update in place; `putIfAbsent` is the one conditional write (leases).
export interface StoredObject {
  name: string
  size: number
}

// Given an object's length, a buffer of at least that many bytes, at the start of an ArrayBuffer
// of its own (so that it can be handed to a worker without a copy).
export type ReadBuffer = (length: number) => Buffer

export interface Store {
  // For messages: the URL without credentials.
  readonly url: string
  // `into`, when given, supplies the buffer an object is read into (a restore reuses a few pack
  // buffers rather than allocating one per pack); the result is then a view of it.
  get(name: string, into?: ReadBuffer): Promise<Buffer>
  // Durable when it resolves: the object is on disk (file) or acknowledged by the server (S3).
  put(name: string, data: Uint8Array): Promise<void>
  // Creates the object only if no object has this name; false when one already does.
  putIfAbsent(name: string, data: Uint8Array): Promise<boolean>
  list(prefix: string): Promise<StoredObject[]>
  delete(name: string): Promise<void>
}

// The store cannot be reached right now (network down, server restarting, folder unmounted):
// worth retrying, and the reason the agent queues work locally.
export class StoreUnavailable extends UserError {
  override name = 'StoreUnavailable'
  constructor(message: string) {
    super(message, {
      hint: 'check the network and the store; `keystone agent status` shows what is queued meanwhile',
    })
  }
}

// An object the repository names is not in the store. Where nothing expects that (a lease or a
// first key may be missing), it is lost data: exit 3 with the object named, as for a damaged one.
export class ObjectMissing extends UserError {
  override name = 'ObjectMissing'
  constructor(readonly object: string) {
    super(`${object}: no such object in the store`, {
      exitCode: ExitCode.integrity,
      hint: 'the store lost an object the repository needs; restore it from another copy of the store, or run `keystone agent verify` to list every missing object',
    })
  }
}

// A store error that retrying will not fix (wrong credentials, a missing bucket): one line.
export class StoreError extends UserError {
  override name = 'StoreError'
}
