import {
  closeSync,
  fchmodSync,
  fchownSync,
  fsyncSync,
  futimesSync,
  openSync,
  writeSync,
} from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { collectYoung } from './collect-young.js'
import { IntegrityError } from '../repository/crypto/integrity-error.js'
import type { RepositoryKeys } from '../repository/crypto/repository-keys.js'
import { blobFromPack } from '../repository/format/blob.js'
import { BlobKind } from '../repository/format/pack.js'
import { restoringName } from './restoring-name.js'
import type { Placement, RestoreInit, RestoreJob, RestoreReply } from './worker-protocol.js'

// A worker thread of a restore: opens the blobs of one downloaded pack (each one's AEAD tag is
// checked) and writes them where files need them. Decryption and the file system's create and
// write calls, which wait on the disk, run on every core while the main thread downloads.
const init = workerData as RestoreInit
const asRoot = process.getuid?.() === 0
const keys: RepositoryKeys = {
  seal: Buffer.from(init.seal),
  id: Buffer.alloc(0), // restore trusts the tag; `verify --read-data` re-hashes
  gear: new Uint32Array(0),
  keyMac: Buffer.alloc(0),
}

// Synchronous on purpose: thousands of small writes cost less without a promise each.
// A file written whole is finished here (mode, times, owner, through its descriptor); one
// written chunk by chunk is finished by the main thread once all its chunks are in.
function writeAt(place: Placement, data: Uint8Array): void {
  const whole = place.whole
  const fd = openSync(
    restoringName(init.names, place.path),
    whole === undefined ? 'r+' : 'w',
    0o600,
  )
  try {
    for (let done = 0; done < data.length;)
      done += writeSync(fd, data, done, data.length - done, place.offset + done)
    if (whole === undefined) return
    if (init.fsyncEach) fsyncSync(fd)
    if (asRoot) fchownSync(fd, whole.uid, whole.gid)
    fchmodSync(fd, whole.mode)
    futimesSync(fd, whole.seconds, whole.seconds)
  } finally {
    closeSync(fd)
  }
}

function failure(error: unknown): RestoreReply['failure'] {
  if (error instanceof IntegrityError)
    return {
      kind: 'integrity',
      object: error.object,
      reason: error.message.slice(error.object.length + 2),
    }
  const e = error as NodeJS.ErrnoException
  if (e.code !== undefined && e.syscall !== undefined)
    return { kind: 'fs', message: e.message, code: e.code, syscall: e.syscall, path: e.path }
  return { kind: 'other', message: (error as Error).message }
}

parentPort!.on('message', (job: RestoreJob) => {
  const pack = Buffer.from(job.pack, 0, job.length)
  let reply: RestoreReply
  try {
    for (const blob of job.blobs) {
      const entry = { ...blob, id: Buffer.from(blob.id, 'hex'), kind: BlobKind.data }
      const plaintext = blobFromPack(keys, job.object, pack, entry, false)
      for (const place of blob.places) writeAt(place, plaintext)
    }
    reply = { job: job.job, pack: job.pack }
  } catch (error) {
    reply = { job: job.job, pack: job.pack, failure: failure(error) }
  }
  collectYoung() // the plaintexts of a whole pack
  parentPort!.postMessage(reply, [job.pack])
})
