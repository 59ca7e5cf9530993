import { readFileSync } from 'node:fs'
import { deflateRawSync } from 'node:zlib'
import fc from 'fast-check'
import t from 'tap'
import { deriveKeys } from '../../cli/agent/repository/crypto/repository-keys.js'
import { looksCompressible, sealBlob, openBlob } from '../../cli/agent/repository/format/blob.js'
import { ByteReader, ByteWriter, FormatError } from '../../cli/agent/repository/format/bytes.js'
import { decodeIndex, encodeIndex } from '../../cli/agent/repository/format/index-object.js'
import {
  decodeManifest,
  encodeManifest,
  type Entry,
} from '../../cli/agent/repository/format/manifest.js'
import { BlobKind, PackBuilder, readPackHeader } from '../../cli/agent/repository/format/pack.js'
import { emptyFile } from '../helpers/entries.js'
import {
  decodeSnapshot,
  decodeTreeList,
  encodeSnapshot,
  encodeTreeList,
} from '../../cli/agent/repository/format/snapshot-object.js'
import { NONCE_BYTES, open, seal } from '../../cli/agent/repository/crypto/seal.js'

// Property tests of the repository's codecs: everything written reads back equal, and any
// change to the bytes is refused rather than decoded into something else.
const keys = deriveKeys(Buffer.alloc(32, 3), 'f'.repeat(32))
const params = { seed: 20261123, numRuns: 150 }

// Manifest paths as a backup writes them: relative, no empty, "." or ".." part, no NUL. Slashes
// are added so that some paths have several parts.
const unsafe = (p: string) =>
  p.startsWith('/') ||
  p.endsWith('/') ||
  p.includes('\0') ||
  p.split('/').some((s) => s === '' || s === '.' || s === '..')
const safePath = (strings: fc.Arbitrary<string>) =>
  fc
    .tuple(strings, fc.nat({ max: 3 }))
    .map(([p, n]) => (n === 0 ? p : `${p}/${[...p].slice(0, n).join('')}x`))
    .filter((p) => !unsafe(p))

const entry: fc.Arbitrary<Entry> = fc.oneof(
  fc.record({
    type: fc.constant('file' as const),
    path: safePath(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 })),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.nat(),
    gid: fc.nat(),
    mtimeNs: fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }),
    size: fc.maxSafeNat(),
    chunks: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 5 }),
  }),
  fc.record({
    type: fc.constant('dir' as const),
    path: safePath(fc.string({ minLength: 1 })),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.nat(),
    gid: fc.nat(),
    mtimeNs: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
  }),
  fc.record({
    type: fc.constant('symlink' as const),
    path: safePath(fc.string({ minLength: 1 })),
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.nat(),
    gid: fc.nat(),
    mtimeNs: fc.bigInt({ min: 0n, max: 2n ** 40n }),
    target: fc.string({ unit: 'binary' }),
  }),
)

const normalise = (entries: Entry[]) =>
  entries.map((e) =>
    e.type === 'file' ? { ...e, chunks: e.chunks.map((c) => Buffer.from(c).toString('hex')) } : e,
  )

// The format as docs/repository-format.md states it, written the plain way: zigzag, then
// seven bits a byte, low bits first.
const referenceSigned = (value: bigint) => {
  let z = value >= 0n ? value << 1n : (-value << 1n) - 1n
  const out: number[] = []
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80)
    z >>= 7n
  }
  out.push(Number(z))
  return Buffer.from(out)
}

t.test(
  'bytes: a signed 64-bit integer is zigzag LEB128, byte for byte, and reads back',
  async (t) => {
    const int64 = fc.oneof(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.bigInt({ min: -(2n ** 30n), max: 2n ** 30n }),
      fc.constantFrom(
        0n,
        -1n,
        2n ** 26n,
        2n ** 27n,
        -(2n ** 27n),
        2n ** 52n,
        2n ** 53n,
        -(2n ** 63n),
      ),
    )
    fc.assert(
      fc.property(int64, (value) => {
        const bytes = new ByteWriter().bigint(value).finish()
        t.equal(bytes.toString('hex'), referenceSigned(value).toString('hex'))
        const reader = new ByteReader(bytes)
        t.equal(reader.bigint(), value)
        t.ok(reader.done)
      }),
      { ...params, numRuns: 500 },
    )
  },
)

t.test('manifest: decode(encode(entries)) equals entries', async (t) => {
  fc.assert(
    fc.property(fc.array(entry, { maxLength: 30 }), (entries) => {
      t.same(normalise(decodeManifest(encodeManifest(entries))), normalise(entries))
    }),
    params,
  )
})

t.test('manifest: a path that could leave the restore target is refused', async (t) => {
  for (const path of [
    '/etc/passwd',
    '../x',
    'a/../../x',
    'a/..',
    'a//b',
    'a/./b',
    '.',
    'a/',
    'a\0b',
  ])
    t.throws(() => decodeManifest(encodeManifest([emptyFile('ok'), emptyFile(path)])), {
      name: 'FormatError',
      message: `unsafe path ${JSON.stringify(path)}`,
    })
  // Dots inside names are names, and "" is the root of a backup of "/".
  for (const path of ['', '.profile', 'a/..b', 'b..', 'a/.config/x'])
    t.equal(decodeManifest(encodeManifest([emptyFile(path)]))[0]!.path, path)
  // The rule is the property test's: every unsafe string it can make is refused.
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('a', '.', '/', '\0') }), (path) => {
      const decode = () => decodeManifest(encodeManifest([emptyFile(path)]))
      if (unsafe(path) && path !== '') t.throws(decode, FormatError)
      else t.equal(decode()[0]!.path, path)
    }),
    { ...params, numRuns: 300 },
  )
})

t.test('manifest: a truncated or extended encoding is refused', async (t) => {
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 10 }), fc.nat(), (entries, cut) => {
      const bytes = encodeManifest(entries)
      const at = cut % bytes.length
      t.throws(() => decodeManifest(bytes.subarray(0, at)), FormatError)
      t.throws(() => decodeManifest(Buffer.concat([bytes, Buffer.from([0])])), FormatError)
    }),
    { ...params, numRuns: 60 },
  )
})

const blobs = fc.array(fc.uint8Array({ minLength: 0, maxLength: 3000 }), {
  minLength: 1,
  maxLength: 12,
})

t.test(
  'pack: every blob reads back from the header and no flipped byte goes unnoticed',
  async (t) => {
    fc.assert(
      fc.property(
        blobs,
        fc.boolean(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (plaintexts, compress, where, flip) => {
          const builder = new PackBuilder()
          for (const p of plaintexts) {
            const b = sealBlob(keys, p, BlobKind.data, compress)
            builder.add(
              { id: b.id, kind: b.kind, compressed: b.compressed, rawLength: b.rawLength },
              b.sealed,
            )
          }
          const pack = builder.finish(keys.seal)
          const entries = readPackHeader(keys.seal, pack)
          t.equal(entries.length, plaintexts.length)
          entries.forEach((e, i) =>
            t.same(
              openBlob(keys, e, pack.subarray(e.offset, e.offset + e.length)),
              Buffer.from(plaintexts[i]!),
            ),
          )

          // One flipped byte anywhere: the header refuses, or the blob that holds the byte does.
          const damaged = Buffer.from(pack)
          const at = where % damaged.length
          damaged[at]! ^= flip
          let caught = false
          try {
            for (const e of readPackHeader(keys.seal, damaged))
              openBlob(keys, e, damaged.subarray(e.offset, e.offset + e.length))
          } catch (error) {
            caught = error instanceof FormatError
          }
          t.ok(caught, `a flip at byte ${at} of ${damaged.length} is detected`)
        },
      ),
      { ...params, numRuns: 80 },
    )
  },
)

t.test(
  'pack: blobs are deduplicated by id: the same plaintext gives the same id, another key another',
  async (t) => {
    const other = deriveKeys(Buffer.alloc(32, 4), 'f'.repeat(32))
    const data = Buffer.from('same content')
    t.same(
      sealBlob(keys, data, BlobKind.data, false).id,
      sealBlob(keys, data, BlobKind.data, true).id,
    )
    t.not(
      Buffer.from(sealBlob(keys, data, BlobKind.data, false).id).toString('hex'),
      Buffer.from(sealBlob(other, data, BlobKind.data, false).id).toString('hex'),
    )
    const compressible = Buffer.alloc(64 * 1024, 'a')
    const sealed = sealBlob(keys, compressible, BlobKind.data, true)
    t.ok(sealed.compressed && sealed.sealed.length < 4096, 'a compressible chunk is compressed')
    t.notOk(
      sealBlob(
        keys,
        Buffer.from(crypto.getRandomValues(new Uint8Array(65536))),
        BlobKind.data,
        true,
      ).compressed,
      'random bytes are not',
    )
  },
)

t.test(
  'compression is tried on text and code, not on random or already-compressed bytes',
  async (t) => {
    const text = Buffer.from(
      Array.from({ length: 400 }, (_, i) => `line ${i}: the quick brown fox ${i * 7919}\n`).join(
        '',
      ),
    )
    t.ok(looksCompressible(text), 'text')
    t.ok(
      looksCompressible(Buffer.from(readFileSync(process.execPath).subarray(0, 65536))),
      'a binary',
    )
    t.notOk(looksCompressible(crypto.getRandomValues(new Uint8Array(65536))), 'random bytes')
    t.notOk(looksCompressible(deflateRawSync(text, { level: 9 })), 'deflated bytes')
    t.notOk(looksCompressible(Buffer.alloc(200, 'a')), 'under 256 bytes: not worth a try')
    const sealed = sealBlob(keys, text, BlobKind.data, true)
    t.ok(sealed.compressed && sealed.sealed.length < text.length / 2)
  },
)

t.test('index and snapshot objects round-trip and refuse another key', async (t) => {
  const other = deriveKeys(Buffer.alloc(32, 4), 'f'.repeat(32))
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          pack: fc
            .uint8Array({ minLength: 32, maxLength: 32 })
            .map((b) => Buffer.from(b).toString('hex')),
          n: fc.integer({ min: 0, max: 5 }),
        }),
        { maxLength: 6 },
      ),
      (packs) => {
        const contents = packs.map((p, i) => ({
          pack: p.pack.toLowerCase(),
          entries: Array.from({ length: p.n }, (_, j) => ({
            id: Buffer.alloc(32, i * 16 + j),
            kind: BlobKind.tree,
            compressed: j % 2 === 0,
            offset: j * 100,
            length: 99,
            rawLength: 10 * j,
          })),
        }))
        const sealed = encodeIndex(keys.seal, contents)
        const back = decodeIndex(keys.seal, sealed).map((p) => ({
          ...p,
          entries: p.entries.map((e) => ({ ...e, id: Buffer.from(e.id) })),
        }))
        t.same(back, contents)
        t.throws(() => decodeIndex(other.seal, sealed), FormatError)
      },
    ),
    { ...params, numRuns: 40 },
  )
  const common = {
    time: new Date(0).toISOString(),
    host: 'h',
    paths: ['/x'],
    stats: { files: 1, dirs: 2, bytes: 3, addedBytes: 4 },
  }
  // Version 2 (written now) and version 1 (still read) both round-trip.
  for (const snapshot of [
    { ...common, version: 2 as const, root: 'ab'.repeat(32) },
    { ...common, version: 1 as const, tree: ['ab'] },
  ]) {
    t.same(decodeSnapshot(keys.seal, encodeSnapshot(keys.seal, snapshot)), snapshot)
    t.throws(() => decodeSnapshot(other.seal, encodeSnapshot(keys.seal, snapshot)), FormatError)
  }
  // A version 2 snapshot without its tree list, or a version 1 without its ids, is refused.
  const { root: _, ...rootless } = { ...common, version: 2 as const, root: 'ab' }
  t.throws(
    () => decodeSnapshot(keys.seal, seal(keys.seal, json(rootless), snapshotAad)),
    FormatError,
  )
  t.throws(
    () => decodeSnapshot(keys.seal, seal(keys.seal, json({ ...common, version: 1 }), snapshotAad)),
    FormatError,
  )
  t.throws(
    () =>
      decodeSnapshot(
        keys.seal,
        seal(keys.seal, json({ ...common, version: 3, root: 'ab' }), snapshotAad),
      ),
    FormatError,
  )
})

const json = (value: unknown) => Buffer.from(JSON.stringify(value))
const snapshotAad = Buffer.from('keystone snapshot v1')

t.test(
  'tree list: decode(encode(ids)) equals ids; a cut or extended list is refused',
  async (t) => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 300 }),
        fc.nat(),
        (ids, cut) => {
          const bytes = encodeTreeList(ids)
          t.same(
            decodeTreeList(bytes),
            ids.map((id) => Buffer.from(id).toString('hex')),
          )
          t.throws(() => decodeTreeList(bytes.subarray(0, cut % bytes.length)), FormatError)
          t.throws(() => decodeTreeList(Buffer.concat([bytes, Buffer.from([0])])), FormatError)
        },
      ),
      { ...params, numRuns: 60 },
    )
    // A manifest is not a tree list: the magic tells them apart.
    t.throws(() => decodeTreeList(encodeManifest([])), /not a tree list/)
  },
)

t.test('seal: nonces cut from one random block are all different, across refills', async (t) => {
  // 341 nonces a block: 1,000 seals cross two refills.
  const nonces = new Set<string>()
  const unopened: number[] = []
  for (let i = 0; i < 1000; i++) {
    const sealed = seal(keys.seal, Buffer.from(`message ${i}`), Buffer.from('aad'))
    nonces.add(sealed.subarray(0, NONCE_BYTES).toString('hex'))
    if (open(keys.seal, sealed, Buffer.from('aad'))?.toString() !== `message ${i}`) unopened.push(i)
  }
  t.equal(nonces.size, 1000)
  t.same(unopened, [], 'each opens to its own message')
})
