import { createHmac, hkdfSync } from 'node:crypto'
import { gearTable } from '../gear-table.js'

// Every key of a repository, derived from its 32-byte master key with HKDF-SHA256 (salt: the
// repository id) so that one secret is all a device key or the recovery key has to unwrap.
// One key per purpose: knowing chunk ids (the id key) does not help decrypt, and vice versa.
export interface RepositoryKeys {
  // AES-256-GCM key for blobs, pack headers, indexes, snapshots, the config and leases.
  seal: Buffer
  // HMAC-SHA256 key of chunk ids, so an id reveals nothing about known plaintexts.
  id: Buffer
  // The chunker's gear table, so chunk boundaries reveal nothing either.
  gear: Uint32Array
  // Authenticates each wrapped-key object, so a flipped byte in another device's key is caught.
  keyMac: Buffer
}

const derive = (master: Uint8Array, repositoryId: string, purpose: string) =>
  Buffer.from(hkdfSync('sha256', master, Buffer.from(repositoryId), `keystone ${purpose}`, 32))

export function deriveKeys(master: Uint8Array, repositoryId: string): RepositoryKeys {
  if (master.length !== 32) throw new TypeError('the master key has 32 bytes')
  return {
    seal: derive(master, repositoryId, 'seal'),
    id: derive(master, repositoryId, 'chunk id'),
    gear: gearTable(derive(master, repositoryId, 'gear')),
    keyMac: derive(master, repositoryId, 'key mac'),
  }
}

export const chunkId = (idKey: Uint8Array, plaintext: Uint8Array): Buffer =>
  createHmac('sha256', idKey).update(plaintext).digest()
