/**
 * sfc32: a small, fast 32-bit generator that passes PractRand. `Math.random` cannot be seeded, and the
 * whole point of this package is that a seed reproduces the same rows on every machine and version of
 * Node, so the generator is written out here rather than borrowed from the platform.
 */
export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  /**
   * `stream` picks one of many independent sequences for the same seed (0, the default, is the sequence
   * of earlier versions): rate mode starts a fresh stream every block of rows, so reaching a row far into
   * an endless run costs at most one block of draws.
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`)
    if (!Number.isSafeInteger(stream) || stream < 0) throw new RangeError(`stream must be a safe non-negative integer, got ${stream}`)
    // splitmix32 spreads the seed over the four words; the high half of the seed goes into `b` so that
    // seeds differing only above bit 32 still give different streams.
    const lo = seed >>> 0
    const hi = Math.floor(seed / 4294967296) >>> 0
    let s = lo
    const splitmix = (): number => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad)
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97)
      return (z ^ (z >>> 15)) >>> 0
    }
    this.a = splitmix()
    this.b = (splitmix() ^ hi) >>> 0
    this.c = splitmix()
    this.d = splitmix()
    if (stream !== 0) {
      // A second splitmix pass over the stream number, folded into the words the seed did not fill alone.
      s = (stream >>> 0) ^ 0x6a09e667
      this.c = (this.c ^ splitmix()) >>> 0
      s = (Math.floor(stream / 4294967296) >>> 0) ^ 0xbb67ae85
      this.d = (this.d ^ splitmix()) >>> 0
    }
    // The first outputs of sfc32 still correlate with the seed words.
    for (let i = 0; i < 15; i++) this.next()
  }

  /** A uniform unsigned 32-bit integer. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** A uniform integer in `[0, n)`; `n` must stay below 2^21 for the product to be exact. */
  below(n: number): number {
    return Math.floor((this.next() * n) / 4294967296)
  }

  /** Advances as if `next` had been called `n` times: how the generator skips rows before a cursor. */
  skip(n: number): void {
    for (let i = 0; i < n; i++) this.next()
  }

  /** A random UUID v4 in FeatBit's form (lowercase, hyphenated): four draws. */
  uuid(): string {
    const a = this.next()
    const b = this.next()
    const c = this.next()
    const d = this.next()
    return (
      hex[a >>> 24]! + hex[(a >>> 16) & 255]! + hex[(a >>> 8) & 255]! + hex[a & 255]! + "-" +
      hex[b >>> 24]! + hex[(b >>> 16) & 255]! + "-" +
      hex[((b >>> 8) & 0x0f) | 0x40]! + hex[b & 255]! + "-" +
      hex[((c >>> 24) & 0x3f) | 0x80]! + hex[(c >>> 16) & 255]! + "-" +
      hex[(c >>> 8) & 255]! + hex[c & 255]! +
      hex[d >>> 24]! + hex[(d >>> 16) & 255]! + hex[(d >>> 8) & 255]! + hex[d & 255]!
    )
  }
}

/** Draws `uuid` consumes; the generator counts draws to skip rows without building them. */
export const UUID_DRAWS = 4

const hex: ReadonlyArray<string> = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))
