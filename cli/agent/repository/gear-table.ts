import { createHmac } from 'node:crypto'

// The gear table of the content-defined chunker, keyed per repository: 256 32-bit values from
// HMAC-SHA256(chunker key, "keystone gear" ‖ i). With a public table, the chunk sizes an observer
// sees in the store would reveal which known files a backup holds; with a secret one they do not
// (the attack restic's per-repository polynomial also defends against).
export function gearTable(chunkerKey: Uint8Array): Uint32Array {
  if (chunkerKey.length < 32) throw new TypeError('the chunker key must have at least 32 bytes')
  const table = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    const digest = createHmac('sha256', chunkerKey).update(`keystone gear ${i}`).digest()
    table[i] = digest.readUInt32BE(0)
  }
  return table
}
