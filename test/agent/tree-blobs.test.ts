import { createHash } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { encodeManifest, type Entry } from '../../cli/agent/repository/format/manifest.js'
import { gearTable } from '../../cli/agent/repository/gear-table.js'
import { TREE_SIZES, treeBlobs } from '../../cli/agent/repository/tree-blobs.js'

// How a manifest is cut into tree blobs: the blobs are the manifest, no blob is over the
// maximum, and a change of contents rewrites only the blobs that hold a changed entry. Small
// sizes in the property tests, so trees of a few hundred entries make many blobs.
const SMALL = { min: 256, avg: 1024, max: 4096 }
const gear = gearTable(Buffer.alloc(32, 9))
const params = { seed: 20261123, numRuns: 120 }

const id = (n: number) => createHash('sha256').update(`chunk ${n}`).digest()
const MTIME = 1_700_000_000_000_000_000n

const dir = (path: string): Entry => ({
  type: 'dir',
  path,
  mode: 0o755,
  uid: 0,
  gid: 0,
  mtimeNs: MTIME,
})
const file = (path: string, chunks: Uint8Array[], mtimeNs = MTIME): Entry => ({
  type: 'file',
  path,
  mode: 0o644,
  uid: 1000,
  gid: 100,
  mtimeNs,
  size: chunks.length * 4096,
  chunks,
})

// A tree in manifest (path) order: `data`, then per directory its entry, its files and an
// optional subdirectory of files. `chunks[d][f]` is file f's chunk count.
function tree(shape: { files: number[]; sub: number }[]): Entry[] {
  const entries: Entry[] = [dir('data')]
  let n = 0
  const pad = (i: number) => String(i).padStart(4, '0')
  shape.forEach((d, i) => {
    entries.push(dir(`data/d${pad(i)}`))
    d.files.forEach((count, j) =>
      entries.push(
        file(
          `data/d${pad(i)}/f${pad(j)}`,
          Array.from({ length: count }, () => id(n++)),
        ),
      ),
    )
    if (d.sub > 0) {
      entries.push(dir(`data/d${pad(i)}/sub`))
      for (let j = 0; j < d.sub; j++)
        entries.push(file(`data/d${pad(i)}/sub/f${pad(j)}`, [id(n++)]))
    }
  })
  return entries
}

const shapes = fc.array(
  fc.record({
    files: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 40 }),
    sub: fc.integer({ min: 0, max: 12 }),
  }),
  { minLength: 1, maxLength: 25 },
)

// Where each entry starts in the encoded manifest, and its end.
function bounds(entries: readonly Entry[]): number[] {
  const starts: number[] = []
  const manifest = encodeManifest(entries, starts)
  return [...starts, manifest.length]
}

// Start offsets of the blobs.
const cuts = (blobs: readonly Buffer[]) => {
  let at = 0
  return blobs.map((b) => ((at += b.length), at - b.length))
}

t.test('the blobs are the manifest, none over the maximum, cut only between entries', async (t) => {
  fc.assert(
    fc.property(shapes, (shape) => {
      const entries = tree(shape)
      const blobs = treeBlobs(entries, gear, SMALL)
      t.same(Buffer.concat(blobs), encodeManifest(entries))
      t.ok(blobs.every((b) => b.length > 0 && b.length <= SMALL.max))
      const starts = new Set([0, ...bounds(entries)])
      t.ok(cuts(blobs).every((at) => starts.has(at)))
    }),
    params,
  )
})

t.test('new contents rewrite the blobs holding the changed files and move no cut', async (t) => {
  fc.assert(
    fc.property(shapes, fc.array(fc.nat(), { minLength: 1, maxLength: 5 }), (shape, picks) => {
      const before = tree(shape)
      const files = before.flatMap((e, i) => (e.type === 'file' && e.chunks.length > 0 ? [i] : []))
      fc.pre(files.length > 0)
      // New chunk ids of the same count and a new mtime of the same width: the entry's bytes
      // change, its length does not.
      const changed = new Set(picks.map((p) => files[p % files.length]!))
      const after = before.map((e, i) =>
        changed.has(i) && e.type === 'file'
          ? file(
              e.path,
              e.chunks.map((_, k) => id(1e6 + i * 10 + k)),
              MTIME + 1_000_000_000n,
            )
          : e,
      )
      const old = treeBlobs(before, gear, SMALL)
      const now = treeBlobs(after, gear, SMALL)
      t.same(cuts(now), cuts(old))
      const edges = bounds(after)
      const starts = cuts(now)
      now.forEach((blob, b) => {
        const from = starts[b]!
        const to = from + blob.length
        const holdsChange = [...changed].some((i) => edges[i]! < to && edges[i + 1]! > from)
        t.equal(!blob.equals(old[b]!), holdsChange)
      })
    }),
    params,
  )
})

t.test('a 1 % change in one directory of 20,000 files rewrites only that directory', async (t) => {
  // The benchmark's many-small shape, with the default sizes: 100 directories of 200 files.
  const shape = Array.from({ length: 100 }, () => ({ files: new Array(200).fill(1), sub: 0 }))
  const before = tree(shape)
  const inD0 = (e: Entry) => e.type === 'file' && e.path.startsWith('data/d0000/')
  const after = before.map((e, i) => (inD0(e) ? file(e.path, [id(1e7 + i)], MTIME + 1n) : e))
  const edges = bounds(after)
  const d1 = after.findIndex((e) => e.path === 'data/d0001')
  // Under every key (where the hash cuts fall): everything up to directory d0001 (the header,
  // `data`, d0000 and its files) is rewritten, and nothing after it.
  for (let key = 0; key < 24; key++) {
    const keyed = gearTable(Buffer.alloc(32, 100 + key))
    const old = new Set(treeBlobs(before, keyed).map((b) => b.toString('hex')))
    const fresh = treeBlobs(after, keyed).filter((b) => !old.has(b.toString('hex')))
    t.equal(
      fresh.reduce((n, b) => n + b.length, 0),
      edges[d1],
      `key ${key}`,
    )
  }
  t.ok(edges[d1]! > TREE_SIZES.min, 'the directory alone is over the minimum blob')
})

t.test('a file of 40,000 chunks is cut inside; one new chunk rewrites a blob or two', async (t) => {
  const chunks = Array.from({ length: 40_000 }, (_, k) => id(k))
  const before = [dir('data'), file('data/big', chunks), file('data/small', [id(-1)])]
  const blobs = treeBlobs(before, gear)
  t.ok(blobs.length > 1_280_000 / TREE_SIZES.max, `${blobs.length} blobs`)
  t.ok(blobs.every((b) => b.length <= TREE_SIZES.max))
  const edited = chunks.slice()
  edited[20_000] = id(-2)
  const after = [dir('data'), file('data/big', edited), file('data/small', [id(-1)])]
  const old = new Set(blobs.map((b) => b.toString('hex')))
  const fresh = treeBlobs(after, gear).filter((b) => !old.has(b.toString('hex')))
  t.ok(fresh.length >= 1 && fresh.length <= 2, `${fresh.length} blobs rewritten`)
  t.ok(fresh.reduce((n, b) => n + b.length, 0) <= 2 * TREE_SIZES.max)
})

t.test('inside a large directory the cuts depend on the repository key', async (t) => {
  const entries = tree([{ files: new Array(5_000).fill(1), sub: 0 }])
  const a = cuts(treeBlobs(entries, gear))
  const b = cuts(treeBlobs(entries, gearTable(Buffer.alloc(32, 10))))
  t.ok(a.length > 5 && b.length > 5, `${a.length} and ${b.length} blobs`)
  t.not(a.join(), b.join())
  // About one cut per `avg` bytes: the blobs average between min and max.
  const size = encodeManifest(entries).length
  t.ok(size / a.length > TREE_SIZES.min && size / a.length < TREE_SIZES.max)
})
