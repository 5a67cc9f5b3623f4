import { Timestamp } from "@featbit-export/core"

/** FeatBit's SDKs send ms; the store keeps µs; the last three digits are always 000. */
const MICROS_SUFFIX = "000Z"

const millisSuffix: ReadonlyArray<string> = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0") + MICROS_SUFFIX)

/**
 * Formats whole-millisecond instants. `toISOString` was a fifth of the generation time, so the text up
 * to the second is kept and only the milliseconds change, which is all that changes between most rows.
 */
export const makeFormatter = (): ((ms: number) => Timestamp.Timestamp) => {
  let second = Number.NaN
  let prefix = ""
  return (ms) => {
    const s = Math.floor(ms / 1000)
    if (s !== second) {
      const date = new Date(s * 1000)
      const iso = Number.isNaN(date.getTime()) ? "" : date.toISOString()
      if (iso.length !== 24) throw new RangeError(`generated time ${iso || ms} is outside years 0000-9999`)
      second = s
      prefix = iso.slice(0, 20)
    }
    return (prefix + millisSuffix[ms - s * 1000]!) as Timestamp.Timestamp
  }
}

/**
 * Core's `Timestamp` only checks the text's shape, so `2024-02-31T...` or hour 99 pass it (and
 * `Timestamp.toMicros` then throws on them); a round trip through `Date` catches both.
 */
export const isRealInstant = (timestamp: string): boolean => {
  const millis = Date.parse(timestamp.slice(0, 23) + "Z")
  return !Number.isNaN(millis) && new Date(millis).toISOString().slice(0, 23) === timestamp.slice(0, 23)
}

/** The first whole millisecond at or after `timestamp`. */
export const ceilMillis = (timestamp: Timestamp.Timestamp): number => {
  const micros = Timestamp.toMicros(timestamp)
  const ms = micros / 1000n
  // BigInt division truncates toward zero; before 1970 that is already the ceiling.
  return Number(micros % 1000n > 0n ? ms + 1n : ms)
}
