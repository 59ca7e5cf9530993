import { IntegrityError } from '../repository/crypto/integrity-error.js'
import { open, seal } from '../repository/crypto/seal.js'
import type { Repository } from '../repository/repository.js'

// A two-way folder's heads: `sync/<folder id>/<n>`, n = 1, 2, 3, … (zero-padded), each sealed
// with its own name as associated data (a head moved to another number or folder does not
// open) and naming the snapshot of the folder's state and the folder's root in it.
export interface HeadObject {
  version: 1
  snapshot: string // snapshots/<id>
  root: string // the folder's path in that snapshot's manifest
  host: string
  time: string
}

const WIDTH = 12
export const headName = (fid: string, seq: number) =>
  `sync/${fid}/${String(seq).padStart(WIDTH, '0')}`
const aad = (fid: string, seq: number) => Buffer.from(`keystone sync head v1 ${fid} ${seq}`)

export const sealHead = (repo: Repository, fid: string, seq: number, head: HeadObject) =>
  seal(repo.keys.seal, Buffer.from(JSON.stringify(head)), aad(fid, seq))

export async function readHead(repo: Repository, fid: string, seq: number): Promise<HeadObject> {
  const name = headName(fid, seq)
  const plain = open(repo.keys.seal, await repo.store.get(name), aad(fid, seq))
  if (plain === undefined) throw new IntegrityError(name, 'the sync head does not authenticate')
  return JSON.parse(plain.toString('utf8')) as HeadObject
}

// The newest head number of every folder in the repository (or of one).
export async function newestHeads(repo: Repository, fid?: string): Promise<Map<string, number>> {
  const newest = new Map<string, number>()
  for (const o of await repo.store.list(fid === undefined ? 'sync/' : `sync/${fid}/`)) {
    const m = /^sync\/([0-9a-f]{32})\/(\d{1,16})$/.exec(o.name)
    if (m === null) continue
    const seq = Number(m[2])
    if (seq > (newest.get(m[1]!) ?? 0)) newest.set(m[1]!, seq)
  }
  return newest
}
