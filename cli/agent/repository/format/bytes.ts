// A growable byte writer and a bounds-checked reader with LEB128 varints: the encoding under
// pack headers, indexes and manifests. The reader throws FormatError on anything malformed, so
// a decoder never reads past its input or trusts a length it was handed.
export class FormatError extends Error {
  override name = 'FormatError'
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const LOW_28 = 0xfffffffn
const unzigzag = (value: bigint) => (value & 1n ? -((value + 1n) >> 1n) : value >> 1n)

export class ByteWriter {
  #buf = Buffer.allocUnsafe(4096)
  #length = 0

  #room(n: number): void {
    if (this.#length + n <= this.#buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#length + n))
    this.#buf.copy(next, 0, 0, this.#length)
    this.#buf = next
  }

  byte(value: number): this {
    this.#room(1)
    this.#buf[this.#length++] = value
    return this
  }

  // Unsigned integers up to 2^53 − 1.
  varint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`not a varint: ${value}`)
    this.#room(8)
    while (value >= 0x80) {
      this.#buf[this.#length++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    this.#buf[this.#length++] = value
    return this
  }

  // Signed 64-bit integers (nanosecond times), zigzag-encoded LEB128. A nanosecond time is
  // wider than a double's integers, so its low 28 bits go out as four bytes and the rest as a
  // number: the same bytes as a BigInt loop, with two BigInt operations instead of ten.
  bigint(value: bigint): this {
    const zigzag = value >= 0n ? value << 1n : (-value << 1n) - 1n
    if (zigzag <= MAX_SAFE) return this.varint(Number(zigzag))
    this.#room(4)
    let low = Number(zigzag & LOW_28)
    for (let i = 0; i < 4; i++, low >>>= 7) this.#buf[this.#length++] = (low & 0x7f) | 0x80
    return this.varint(Number(zigzag >> 28n))
  }

  bytes(value: Uint8Array): this {
    this.#room(value.length)
    this.#buf.set(value, this.#length)
    this.#length += value.length
    return this
  }

  string(value: string): this {
    const length = Buffer.byteLength(value, 'utf8')
    this.varint(length).#room(length)
    this.#length += this.#buf.write(value, this.#length, 'utf8')
    return this
  }

  // Bytes written so far.
  get length(): number {
    return this.#length
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#length)
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

export class ByteReader {
  readonly #buf: Uint8Array
  #at = 0

  constructor(buf: Uint8Array) {
    this.#buf = buf
  }

  get done(): boolean {
    return this.#at === this.#buf.length
  }

  byte(): number {
    if (this.#at >= this.#buf.length) throw new FormatError('truncated')
    return this.#buf[this.#at++]!
  }

  varint(): number {
    let value = 0
    let scale = 1
    for (;;) {
      const b = this.byte()
      value += (b & 0x7f) * scale
      if (b < 0x80) break
      scale *= 0x80
      if (scale > 2 ** 49) throw new FormatError('varint too long')
    }
    if (!Number.isSafeInteger(value)) throw new FormatError('varint too large')
    return value
  }

  bigint(): bigint {
    let low = 0
    for (let shift = 0; shift < 28; shift += 7) {
      const b = this.byte()
      low |= (b & 0x7f) << shift
      if (b < 0x80) return unzigzag(BigInt(low))
    }
    return unzigzag((BigInt(this.varint()) << 28n) | BigInt(low))
  }

  bytes(length: number): Uint8Array {
    if (length > this.#buf.length - this.#at) throw new FormatError('truncated')
    const out = this.#buf.subarray(this.#at, this.#at + length)
    this.#at += length
    return out
  }

  string(): string {
    try {
      return utf8.decode(this.bytes(this.varint()))
    } catch (error) {
      if (error instanceof FormatError) throw error
      throw new FormatError('not UTF-8')
    }
  }
}
