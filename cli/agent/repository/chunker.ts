// Content-defined chunking after FastCDC (Xia et al., USENIX ATC 2016): a gear rolling hash
// (h = 2h + gear[byte], 32 bits, so each decision depends on the last 32 bytes) cuts where its
// top bits are zero. Normalised chunking: a stricter mask before the average size and a looser
// one after it keeps sizes close to the average; no cut before `min`, always one at `max`.
// Because a cut depends only on nearby bytes, an insertion moves the boundaries around it and
// the rest of the file chunks as before, so unchanged data deduplicates.

export interface ChunkSizes {
  min: number
  avg: number
  max: number
}

// restic's defaults are 512 KiB / 1 MiB / 8 MiB; smaller chunks deduplicate edits of large
// files better (a 4 KiB edit re-uploads about one average chunk) for a little more index: 2,000
// entries of about 70 bytes per GiB. New repositories only: a repository keeps its sizes.
export const DEFAULT_SIZES: ChunkSizes = { min: 128 * 1024, avg: 512 * 1024, max: 2 * 1024 * 1024 }

// The top `bits` bits of a 32-bit word: they depend on the most recent 32 input bytes.
const topBits = (bits: number) => (bits >= 32 ? 0xffffffff : ((1 << bits) - 1) << (32 - bits)) >>> 0

export function checkSizes(sizes: ChunkSizes): void {
  const { min, avg, max } = sizes
  if (!(Number.isInteger(min) && min >= 64 && avg > min && max > avg && (avg & (avg - 1)) === 0))
    throw new TypeError(
      `chunk sizes need 64 ≤ min < avg < max with avg a power of two, got ${min}/${avg}/${max}`,
    )
}

export class Chunker {
  readonly #gear: Int32Array
  readonly #sizes: ChunkSizes
  readonly #maskSmall: number
  readonly #maskLarge: number

  constructor(gear: Uint32Array, sizes: ChunkSizes = DEFAULT_SIZES) {
    checkSizes(sizes)
    // The hash is kept as a signed 32-bit integer: the same bits as an unsigned one, but V8
    // keeps it in a register, where an unsigned value over 2^31 becomes a double (three times
    // slower per byte).
    this.#gear = new Int32Array(gear.buffer, gear.byteOffset, gear.length)
    this.#sizes = sizes
    const bits = Math.log2(sizes.avg)
    // Normalisation level 2 (FastCDC §3.3): two bits more before the average, two fewer after.
    this.#maskSmall = topBits(bits + 2) | 0
    this.#maskLarge = topBits(bits - 2) | 0
  }

  // The length of the next chunk of `data` starting at `start`, given that `data` ends at the
  // end of the input when `final` is true. Returns 0 when more input is needed to decide.
  nextCut(data: Uint8Array, start: number, final: boolean): number {
    const { min, avg, max } = this.#sizes
    const available = data.length - start
    if (available <= min) return final ? available : 0
    const end = start + Math.min(available, max)
    const normal = start + Math.min(available, avg)
    const gear = this.#gear
    const maskSmall = this.#maskSmall
    const maskLarge = this.#maskLarge
    let hash = 0
    let i = start + min
    for (; i < normal; i++) {
      hash = ((hash << 1) + gear[data[i]!]!) | 0
      if ((hash & maskSmall) === 0) return i + 1 - start
    }
    for (; i < end; i++) {
      hash = ((hash << 1) + gear[data[i]!]!) | 0
      if ((hash & maskLarge) === 0) return i + 1 - start
    }
    if (end - start === max) return max
    return final ? available : 0
  }

  // Every chunk length of a whole buffer, in order.
  lengths(data: Uint8Array): number[] {
    const lengths: number[] = []
    for (let start = 0; start < data.length;) {
      const length = this.nextCut(data, start, true)
      lengths.push(length)
      start += length
    }
    return lengths
  }
}
