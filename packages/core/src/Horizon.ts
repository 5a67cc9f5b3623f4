import * as Duration from "effect/Duration"
import * as Timestamp from "./Timestamp.js"

/**
 * The store's clock as a source reads it at the start of a pass: ClickHouse `now64()`, PostgreSQL `now()` in
 * UTC, MongoDB's `hello.localTime`. `mark` is whatever else the store can say about "now" that later tells
 * rows written since then from older ones (PostgreSQL's snapshot xmin, ClickHouse's clock for `_timestamp`).
 */
export interface StoreTime {
  readonly now: Timestamp.Timestamp
  readonly mark?: string | undefined
}

/** How far one pass reads. */
export interface PassBounds {
  readonly storeTime: Timestamp.Timestamp
  /** Rows at or before it are read: the store's clock minus `lag`. */
  readonly horizon: Timestamp.Timestamp
  /** The exclusive end of the pass: just after the horizon, or `endAt` when that comes first. */
  readonly before: Timestamp.Timestamp
}

/**
 * The read horizon of a pass: the store's clock minus `lag`, capped by `endAt`. The store's clock, never the
 * newest row: a horizon that trails the newest row holds back the last `lag` of a quiet environment until
 * newer rows come, which in staging, at a weekend or in a retired environment is never. And never the
 * runner's clock: a runner whose clock is off must read the same rows.
 */
export const passBounds = (
  storeTime: Timestamp.Timestamp,
  settings: { readonly lag: Duration.Duration; readonly endAt?: Timestamp.Timestamp | undefined }
): PassBounds => {
  const horizonMicros = Timestamp.toMicros(storeTime) - BigInt(Math.round(Duration.toMillis(settings.lag) * 1000))
  const horizon = Timestamp.fromMicros(horizonMicros)
  const justAfter = Timestamp.fromMicros(horizonMicros + 1n)
  const before = settings.endAt !== undefined && settings.endAt < justAfter ? settings.endAt : justAfter
  return { storeTime, horizon, before }
}
