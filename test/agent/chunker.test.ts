import fc from 'fast-check'
import t from 'tap'
import { Chunker, type ChunkSizes } from '../../cli/agent/repository/chunker.js'
import { gearTable } from '../../cli/agent/repository/gear-table.js'

// Property tests of the content-defined chunker (small sizes, so that inputs of a few KiB hold
// many chunks). Fixed seeds: a failing case is reproducible.
const SIZES: ChunkSizes = { min: 64, avg: 256, max: 1024 }
const key = Buffer.alloc(32, 7)
const chunker = new Chunker(gearTable(key), SIZES)
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max })
const params = { seed: 20261123, numRuns: 200 }

// Reproducible pseudo-random bytes (xorshift32): what fast-check's seed decides, not the clock.
const pseudoRandom = (seed: number, length: number) => {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

// Chunk start offsets of `data`.
const starts = (data: Uint8Array) => {
  const offsets: number[] = []
  let at = 0
  for (const length of chunker.lengths(data)) {
    offsets.push(at)
    at += length
  }
  return offsets
}

t.test(
  'chunks cover the input exactly, within min and max (the last may be shorter)',
  async (t) => {
    fc.assert(
      fc.property(bytes(0, 20000), (data) => {
        const lengths = chunker.lengths(data)
        if (lengths.reduce((a, b) => a + b, 0) !== data.length) return false
        return lengths.every(
          (length, i) => length <= SIZES.max && (i === lengths.length - 1 || length >= SIZES.min),
        )
      }),
      params,
    )
    t.pass('property held')
  },
)

t.test('feeding the input piece by piece cuts where the whole buffer is cut', async (t) => {
  fc.assert(
    fc.property(
      bytes(1, 8000),
      fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
      (data, pieces) => {
        const streamed: number[] = []
        let buffer = new Uint8Array(0)
        let fed = 0
        let piece = 0
        while (fed < data.length || buffer.length > 0) {
          const size = pieces[piece++ % pieces.length]!
          const next = data.subarray(fed, fed + size)
          fed += next.length
          buffer = Buffer.concat([buffer, next])
          const final = fed === data.length
          for (;;) {
            const cut = chunker.nextCut(buffer, 0, final)
            if (cut === 0) break
            streamed.push(cut)
            buffer = buffer.subarray(cut)
            if (buffer.length === 0) break
          }
          if (final && buffer.length === 0) break
        }
        return JSON.stringify(streamed) === JSON.stringify(chunker.lengths(data))
      },
    ),
    params,
  )
  t.pass('property held')
})

t.test(
  'an insertion changes only the chunks around it: the boundaries before stay, the ones after return',
  async (t) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        bytes(1, 300),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, inserted, where) => {
          const data = pseudoRandom(seed, 40_000)
          const at = Math.floor(where * data.length)
          const edited = Buffer.concat([data.subarray(0, at), inserted, data.subarray(at)])
          const before = starts(data)
          const after = starts(edited)
          // Every boundary at or before the last one that precedes the edit is unchanged…
          const untouched = before.filter((offset) => offset + SIZES.max < at)
          if (!untouched.every((offset) => after.includes(offset))) return false
          // …and, shifted by the insertion, the boundaries after it come back within a few chunks.
          const shifted = new Set(after.map((offset) => offset - inserted.length))
          const lost = before.filter((offset) => offset > at && !shifted.has(offset))
          return lost.length <= 4
        },
      ),
      { ...params, numRuns: 100 },
    )
    t.pass('property held')
  },
)

// The format fixes the cuts, not the code: repositories written before the chunker kept its hash
// in a signed register must chunk the same. This is FastCDC as docs/repository-format.md states
// it, in plain unsigned arithmetic.
const referenceLengths = (gear: Uint32Array, data: Uint8Array, sizes: ChunkSizes) => {
  const top = (bits: number) => (((1 << bits) - 1) << (32 - bits)) >>> 0
  const bits = Math.log2(sizes.avg)
  const lengths: number[] = []
  for (let start = 0; start < data.length;) {
    let hash = 0
    let length = Math.min(data.length - start, sizes.max)
    for (let i = start + sizes.min; i < start + length; i++) {
      hash = (hash * 2 + gear[data[i]!]!) % 2 ** 32
      const mask = i < start + sizes.avg ? top(bits + 2) : top(bits - 2)
      if ((hash & mask) >>> 0 === 0) {
        length = i + 1 - start
        break
      }
    }
    lengths.push(length)
    start += length
  }
  return lengths
}

t.test('cuts exactly where an unsigned reference FastCDC cuts', async (t) => {
  const gear = gearTable(key)
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.nat(30_000), (seed, length) => {
      const data = pseudoRandom(seed, length)
      return (
        JSON.stringify(chunker.lengths(data)) ===
        JSON.stringify(referenceLengths(gear, data, SIZES))
      )
    }),
    params,
  )
  const large = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 }
  const data = pseudoRandom(7, 2 * 1024 * 1024)
  t.same(new Chunker(gear, large).lengths(data), referenceLengths(gear, data, large), 'tree sizes')
})

t.test('the boundaries depend on the repository key', async (t) => {
  const data = pseudoRandom(42, 50_000)
  const other = new Chunker(gearTable(Buffer.alloc(32, 8)), SIZES)
  t.not(JSON.stringify(other.lengths(data)), JSON.stringify(chunker.lengths(data)))
  t.same(new Chunker(gearTable(key), SIZES).lengths(data), chunker.lengths(data), 'and only on it')
  t.throws(() => gearTable(Buffer.alloc(16)), /at least 32 bytes/)
  t.throws(() => new Chunker(gearTable(key), { min: 64, avg: 300, max: 1024 }), /power of two/)
})
