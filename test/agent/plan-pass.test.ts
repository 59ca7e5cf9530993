import t from 'tap'
import {
  batchReads,
  entriesOf,
  fileRowsOf,
  lastSnapshotKey,
  planPass,
} from '../../cli/agent/backup/plan-pass.js'
import type { Metadata, Scanned, ScannedFile } from '../../cli/agent/backup/scan.js'
import type { FileRow } from '../../cli/agent/home/state.js'

// The decisions of a backup pass as data (cli/agent/backup/plan-pass.ts): no disk, no store.
// The file-system tests (agent-cli, crash, daemon) drive the same cases through real files.
const id = (n: number) => Buffer.alloc(32, n)
const meta = (over: Partial<Metadata> = {}): Metadata => ({
  mode: 0o100644,
  uid: 1000,
  gid: 100,
  size: 10,
  mtimeNs: 1_000n,
  ctimeNs: 1_000n,
  ino: 7n,
  ...over,
})
const file = (path: string, over: Partial<Metadata> = {}): ScannedFile => ({
  type: 'file',
  path,
  stat: meta(over),
})
const rowOf = (f: ScannedFile, chunks: Buffer[]): FileRow => ({
  size: f.stat.size,
  mtimeNs: f.stat.mtimeNs,
  ctimeNs: f.stat.ctimeNs,
  inode: f.stat.ino,
  chunks: Buffer.concat(chunks),
})
const paths = (files: readonly ScannedFile[]) => files.map((f) => f.path)

t.test('the first pass reads every file, and only files', async (t) => {
  const scanned: Scanned[] = [
    { type: 'dir', path: '/d', stat: meta({ mode: 0o40755 }) },
    file('/d/a'),
    { type: 'symlink', path: '/d/l', stat: meta({ mode: 0o120777 }), target: 'a' },
    file('/d/b'),
  ]
  const plan = planPass(scanned, new Map())
  t.same(paths(plan.read), ['/d/a', '/d/b'], 'in scan order')
  t.equal(plan.reuse.size, 0)
})

t.test('a file the index saw as it is now is reused with its chunks, not read', async (t) => {
  const a = file('/a')
  const plan = planPass([a], new Map([['/a', rowOf(a, [id(1), id(2)])]]))
  t.same(plan.read, [])
  t.same(plan.reuse.get('/a'), [id(1), id(2)])
})

t.test('size, mtime, ctime or inode changed: the file is read again', async (t) => {
  const before = file('/a')
  const index = new Map([['/a', rowOf(before, [id(1)])]])
  for (const [what, change] of [
    ['size (appended)', { size: 11 }],
    ['mtime (rewritten)', { mtimeNs: 2_000n }],
    ['ctime only (rewritten with size and mtime restored, or chmod)', { ctimeNs: 2_000n }],
    ['inode (replaced by another file)', { ino: 8n }],
  ] as const) {
    const plan = planPass([file('/a', change)], index)
    t.same(paths(plan.read), ['/a'], what)
    t.equal(plan.reuse.size, 0, what)
  }
})

t.test('before the index is checked, a reused file must still have all its chunks', async (t) => {
  const a = file('/a')
  const b = file('/b', { ino: 9n })
  const index = new Map([
    ['/a', rowOf(a, [id(1), id(2)])],
    ['/b', rowOf(b, [id(3)])],
  ])
  const stored = new Set([id(1), id(3)].map((i) => i.toString('hex')))
  const plan = planPass([a, b], index, (chunk) => stored.has(Buffer.from(chunk).toString('hex')))
  t.same(paths(plan.read), ['/a'], 'a lost chunk 2 (a repair, a prune elsewhere): read again')
  t.same([...plan.reuse.keys()], ['/b'])
  t.same(paths(planPass([a, b], index).read), [], 'once checked, the index is trusted')
})

t.test('reads are batched: small files together, a large file alone, order kept', async (t) => {
  const limits = { files: 3, bytes: 100 }
  const small = (n: number) => file(`/s${n}`, { size: 10 })
  t.same(batchReads([], limits), [])
  t.same(
    batchReads([small(1), small(2), small(3), small(4)], limits),
    [['/s1', '/s2', '/s3'], ['/s4']],
    'at most `files` per batch',
  )
  t.same(
    batchReads([file('/m1', { size: 60 }), file('/m2', { size: 40 }), small(1)], limits),
    [['/m1', '/m2'], ['/s1']],
    'a batch closes once it holds `bytes`',
  )
  t.same(
    batchReads([small(1), file('/big', { size: 100 }), small(2)], limits),
    [['/s1'], ['/big'], ['/s2']],
    'a file of `bytes` or more is a batch of its own, between the others',
  )
  t.same(batchReads([small(1)]), [['/s1']], 'the default limits')
})

t.test('the manifest: what was read, without the files that failed', async (t) => {
  const scanned: Scanned[] = [
    { type: 'dir', path: '/d', stat: meta({ mode: 0o40755 }) },
    file('/d/kept', { mode: 0o104755 }),
    file('/d/read'),
    file('/d/vanished'),
    { type: 'symlink', path: '/d/l', stat: meta({ mode: 0o120777 }), target: '../x' },
  ]
  const entries = entriesOf(
    scanned,
    new Map([
      ['/d/kept', [id(1)]],
      ['/d/read', [id(2), id(3)]],
    ]),
    new Map([['/d/read', 12]]),
    new Set(['/d/vanished']),
  )
  t.same(entries, [
    { type: 'dir', path: 'd', mode: 0o755, uid: 1000, gid: 100, mtimeNs: 1_000n },
    {
      type: 'file',
      path: 'd/kept',
      mode: 0o4755,
      uid: 1000,
      gid: 100,
      mtimeNs: 1_000n,
      size: 10,
      chunks: [id(1)],
    },
    {
      type: 'file',
      path: 'd/read',
      mode: 0o644,
      uid: 1000,
      gid: 100,
      mtimeNs: 1_000n,
      size: 12,
      chunks: [id(2), id(3)],
    },
    {
      type: 'symlink',
      path: 'd/l',
      mode: 0o777,
      uid: 1000,
      gid: 100,
      mtimeNs: 1_000n,
      target: '../x',
    },
  ])
})

t.test('the index rows a pass leaves: the files it read, as the scan saw them', async (t) => {
  const read = [file('/a', { size: 10 }), file('/b'), file('/gone')]
  const rows = fileRowsOf(
    read,
    new Map([
      ['/a', [id(1), id(2)]],
      ['/b', []],
    ]),
    new Map([['/a', 12]]),
    new Set(['/gone']),
  )
  t.same(rows, [
    [
      '/a',
      {
        size: 12,
        mtimeNs: 1_000n,
        ctimeNs: 1_000n,
        inode: 7n,
        chunks: Buffer.concat([id(1), id(2)]),
      },
    ],
    ['/b', { size: 10, mtimeNs: 1_000n, ctimeNs: 1_000n, inode: 7n, chunks: Buffer.alloc(0) }],
  ])
  const next = planPass([file('/a', { size: 12 })], new Map(rows))
  t.same(next.reuse.get('/a'), [id(1), id(2)], 'and the next pass reuses them')
})

t.test(
  "a snapshot's parent is the last one of the same host and paths, in any order",
  async (t) => {
    t.equal(lastSnapshotKey('web1', ['/b', '/a']), lastSnapshotKey('web1', ['/a', '/b']))
    t.not(lastSnapshotKey('web1', ['/a']), lastSnapshotKey('web2', ['/a']))
    t.not(lastSnapshotKey('web1', ['/a']), lastSnapshotKey('web1', ['/a', '/b']))
  },
)
