import { chunkId } from '../repository/crypto/repository-keys.js'
import { sealBlob } from '../repository/format/blob.js'
import type { Entry } from '../repository/format/manifest.js'
import { BlobKind } from '../repository/format/pack.js'
import {
  encodeSnapshot,
  encodeTreeList,
  type Snapshot,
} from '../repository/format/snapshot-object.js'
import { encodeIndex } from '../repository/format/index-object.js'
import type { Agent } from '../home/agent-home.js'
import { indexName, sha256hex, snapshotName } from '../repository/repository.js'
import { treeBlobs } from '../repository/tree-blobs.js'
import { manifestPath } from './scan.js'
import type { Packer } from './packer.js'

// The commit of a pass, and of a two-way folder's merged state: the manifest as tree blobs and
// their tree list, in packs of their own (verify reads them without the data), then an index
// of every blob stored but not indexed yet (this pass's and any a crashed pass left), then the
// snapshot.
export async function commitSnapshot(
  agent: Agent,
  packer: Packer,
  entries: readonly Entry[],
  options: { time: Date; host: string; paths: readonly string[]; parent?: string },
): Promise<{ name: string; placed: 'stored' | 'queued'; snapshot: Snapshot }> {
  const { repo, state, outbox } = agent
  // An unchanged part of the tree is already stored: no need to compress and seal it again.
  const storeTree = async (plaintext: Buffer) => {
    const id = chunkId(repo.keys.id, plaintext)
    if (!packer.has(id))
      await packer.addAll([sealBlob(repo.keys, plaintext, BlobKind.tree, true)], 'tree')
    return id
  }
  const ids: Buffer[] = []
  for (const plaintext of treeBlobs(entries, repo.keys.gear)) ids.push(await storeTree(plaintext))
  const root = (await storeTree(encodeTreeList(ids))).toString('hex')
  await packer.flush('tree')
  await packer.settled()

  const unindexed = state.unindexedPacks()
  if (unindexed.size > 0) {
    const bytes = encodeIndex(
      repo.keys.seal,
      [...unindexed].map(([pack, list]) => ({ pack, entries: list })),
    )
    const name = indexName(sha256hex(bytes))
    await outbox.place(name, 'index', bytes)
    state.markIndexed(unindexed.keys(), name)
  }

  const files = entries.filter((e) => e.type === 'file')
  const snapshot: Snapshot = {
    version: 2,
    time: options.time.toISOString(),
    host: options.host,
    paths: [...new Set(options.paths.map((p) => '/' + manifestPath(p)))].sort(),
    ...(options.parent !== undefined && { parent: options.parent }),
    root,
    stats: {
      files: files.length,
      dirs: entries.filter((e) => e.type === 'dir').length,
      bytes: files.reduce((n, f) => n + f.size, 0),
      addedBytes: packer.bytes,
    },
  }
  const bytes = encodeSnapshot(repo.keys.seal, snapshot)
  const name = snapshotName(sha256hex(bytes))
  const placed = await outbox.place(name, 'snapshot', bytes)
  return { name, placed, snapshot }
}
