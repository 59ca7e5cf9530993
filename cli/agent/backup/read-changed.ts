import type { SealedBlob } from '../repository/format/blob.js'
import { BlobKind } from '../repository/format/pack.js'
import type { Agent } from '../home/agent-home.js'
import { ChunkPool } from '../workers/worker-pool.js'
import { REF_FIELDS } from '../workers/worker-protocol.js'
import type { Packer } from './packer.js'

// The read loop of a pass: the chunk workers read, chunk, compress and seal each batch of files
// (plan-pass.ts made the batches); their blobs go to the packer as they come. What a file could
// not give (it vanished, it is unreadable) is a failure named in `skipped`, not a failed pass.
export interface ReadResult {
  chunksOf: Map<string, Uint8Array[]> // absolute path → chunk ids, for the files read
  sizeOf: Map<string, number> // the bytes actually read
  failed: Set<string>
  skipped: string[]
  readBytes: number
}

export async function readChanged(
  agent: Agent,
  batches: readonly string[][],
  packer: Packer,
): Promise<ReadResult> {
  const { repo } = agent
  const result: ReadResult = {
    chunksOf: new Map(),
    sizeOf: new Map(),
    failed: new Set(),
    skipped: [],
    readBytes: 0,
  }
  if (batches.length === 0) return result
  const pool = new ChunkPool(
    repo.keys,
    repo.parameters.chunker,
    agent.settings.compression !== false,
    16 * 1024 * 1024,
  )
  try {
    const tasks = new Map<number, readonly string[]>()
    for (const batch of batches) tasks.set(pool.submit([...batch]), batch)
    let open = tasks.size
    while (open > 0) {
      const reply = await pool.next()
      if (reply.type === 'task-done') {
        open--
        continue
      }
      const files = tasks.get(reply.task)!
      const bytes = Buffer.from(reply.bytes)
      const { refs } = reply
      const blobs: SealedBlob[] = []
      let consumed = 0
      let r = 0
      for (const news of reply.files) {
        const file = files[news.file]!
        const ids = result.chunksOf.get(file) ?? []
        for (let k = 0; k < news.blobs; k++, r += REF_FIELDS) {
          const at = refs[r]!
          const length = refs[r + 1]!
          const id = bytes.subarray(at, at + 32)
          blobs.push({
            id,
            kind: BlobKind.data,
            compressed: refs[r + 3] === 1,
            rawLength: refs[r + 2]!,
            sealed: bytes.subarray(at + 32, at + 32 + length),
          })
          ids.push(Buffer.from(id)) // a copy: the reply's buffer is dropped once packed
          consumed += 32 + length
        }
        result.chunksOf.set(file, ids)
        if (news.error !== undefined) {
          result.failed.add(file)
          result.skipped.push(`${file}: ${news.error}`)
        } else if (news.size !== undefined) {
          result.readBytes += news.size
          result.sizeOf.set(file, news.size)
        }
      }
      await packer.addAll(blobs, 'data')
      pool.consumed(reply, consumed)
    }
  } finally {
    await pool.close()
  }
  return result
}
