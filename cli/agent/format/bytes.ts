// A growable byte writer and a bounds-checked reader with LEB128 varints: the encoding under
// pack headers, indexes and manifests. The reader throws FormatError on anything malformed, so
// a decoder never reads past its input or trusts a length it was handed.
export class FormatError extends Error {
  override name = 'FormatError'
}

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

  // Signed 64-bit integers (nanosecond times), zigzag-encoded.
  bigint(value: bigint): this {
    let zigzag = value >= 0n ? value << 1n : (-value << 1n) - 1n
    this.#room(10)
    while (zigzag >= 0x80n) {
      this.#buf[this.#length++] = Number(zigzag & 0x7fn) | 0x80
      zigzag >>= 7n
    }
    this.#buf[this.#length++] = Number(zigzag)
    return this
  }

  bytes(value: Uint8Array): this {
    this.#room(value.length)
    this.#buf.set(value, this.#length)
    this.#length += value.length
    return this
  }

  string(value: string): this {
    const encoded = Buffer.from(value, 'utf8')
    return this.varint(encoded.length).bytes(encoded)
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
    let value = 0n
    let shift = 0n
    for (;;) {
      const b = this.byte()
      value |= BigInt(b & 0x7f) << shift
      if (b < 0x80) break
      shift += 7n
      if (shift > 70n) throw new FormatError('varint too long')
    }
    return value & 1n ? -((value + 1n) >> 1n) : value >> 1n
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
