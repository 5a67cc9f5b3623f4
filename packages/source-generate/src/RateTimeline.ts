// In rate mode row i is stamped `floor(i * 1000 / rate)` ms after the start: the position of a row fixes
// its time, so the rows up to a moment, or after a cursor, are found by arithmetic instead of by walking
// the stream.

/** The highest rate: far above what one core generates (about 1M rows/s), high enough for any test. */
export const MAX_RATE = 1_000_000
/** The lowest rate, one row an hour: below it a day-long run would hold no rows at all. */
export const MIN_RATE = 1 / 3600

export const checkRate = (rate: number): number => {
  if (!Number.isFinite(rate) || rate < MIN_RATE || rate > MAX_RATE) {
    throw new RangeError(`rate must be between one event an hour and ${MAX_RATE} events a second, got ${rate}`)
  }
  return rate
}

/** Milliseconds between the start and row `index`. */
export const offsetOf = (index: number, rate: number): number => Math.floor((index * 1000) / rate)

/** The first row at least `offset` ms after the start. */
export const firstIndexAtOrAfter = (offset: number, rate: number): number => {
  if (offset <= 0) return 0
  // The estimate is off by at most a row or two from rounding; the loops settle it exactly.
  let index = Math.ceil((offset * rate) / 1000)
  while (index > 0 && offsetOf(index - 1, rate) >= offset) index--
  while (offsetOf(index, rate) < offset) index++
  return index
}
