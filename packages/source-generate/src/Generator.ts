import type { FeatBitRow } from "@featbit-export/core"
import { Cursor, Timestamp } from "@featbit-export/core"
import { DEFAULT_FLAGS, checkFlagPoolSize } from "./FlagPool.js"
import { defaultEnvIds, defaultStart } from "./Pools.js"
import { Prng, UUID_DRAWS } from "./Prng.js"
import { checkRate, firstIndexAtOrAfter, offsetOf } from "./RateTimeline.js"
import { type Draft, type RowBuilder, makeRowBuilder, malformed } from "./RowBuilder.js"
import { ceilMillis, isRealInstant, makeFormatter } from "./Stamps.js"
import { DEFAULT_USERS, checkUserPoolSize } from "./UserPool.js"

export interface GenerateOptions {
  /** Rows to generate. Required, except in rate mode, where without it the rows never end. */
  readonly count?: number | undefined
  /** Same seed, same rows (default 1). */
  readonly seed?: number | undefined
  /** Environments the rows are spread over (default `defaultEnvIds`). */
  readonly envIds?: ReadonlyArray<string> | undefined
  /** Users drawn from: the first N of the user pool (default `DEFAULT_USERS`, at most `MAX_USERS`). */
  readonly users?: number | undefined
  /** Flags drawn from: the first N of the flag pool (default `DEFAULT_FLAGS`, at most `MAX_FLAGS`). */
  readonly flags?: number | undefined
  /**
   * Time of the first row, rounded up to a whole millisecond (default 2024-01-01T00:00:00.000000Z; in
   * rate mode, the current time of `now`).
   */
  readonly start?: Timestamp.Timestamp | undefined
  /**
   * Events per second: row i is stamped `start + floor(i * 1000 / rate)` ms, rows sharing a millisecond
   * in id order. `maxTie` and `tieBurst` do not apply.
   */
  readonly rate?: number | undefined
  /** The clock rate mode starts at when `start` is not given, in epoch ms (default `Date.now`). */
  readonly now?: (() => number) | undefined
  /** At most this many rows share a timestamp (default 4; 1 = no ties). Not in rate mode. */
  readonly maxTie?: number | undefined
  /** The first `tieBurst` rows all share one timestamp, to put ties across page boundaries (default 0). Not in rate mode. */
  readonly tieBurst?: number | undefined
  /** Every N-th row gets properties that cannot be decoded (default 0 = never). */
  readonly malformedEvery?: number | undefined
}

/** A keyset position, as far as the generator needs one. */
type After = Pick<Cursor.Cursor, "timestamp" | "id">

/** The largest gap between two consecutive timestamps, in ms. Small, so a demo run covers hours, not years. */
const MAX_STEP_MS = 200
/** PRNG draws per row besides its id: fixed, so skipping rows is counting draws. */
const CHOICE_DRAWS = 6
const ROW_DRAWS = UUID_DRAWS + CHOICE_DRAWS
/** Rate mode draws each block of rows from a fresh PRNG stream, so reaching any row costs at most a block. */
const RATE_BLOCK = 1024

const compareDrafts = (a: Draft, b: Draft): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

const checkCount = (name: string, value: number, min: number): number => {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${name} must be a whole number of at least ${min}, got ${value}`)
  }
  return value
}

/** Keeps the group-size draw inside the range `Prng.below` draws exactly. */
export const MAX_TIE_LIMIT = 1_000_000

const checkMaxTie = (maxTie: number): number => {
  if (maxTie > MAX_TIE_LIMIT) throw new RangeError(`maxTie must be at most ${MAX_TIE_LIMIT}, got ${maxTie}`)
  return maxTie
}

const startMillisOf = (start: Timestamp.Timestamp): number => {
  if (!isRealInstant(start)) throw new RangeError(`start ${start} is not a real instant`)
  return ceilMillis(start)
}

/** Options with their defaults applied, checked once. */
interface Resolved {
  /** `Infinity` in rate mode without a count. */
  readonly count: number
  readonly seed: number
  readonly envIds: ReadonlyArray<string>
  readonly users: number
  readonly flags: number
  readonly startMillis: number
  readonly rate: number | undefined
  readonly maxTie: number
  readonly tieBurst: number
  readonly malformedEvery: number
}

const resolve = (options: GenerateOptions): Resolved => {
  const envIds = options.envIds ?? defaultEnvIds
  if (envIds.length === 0) throw new RangeError("envIds must list at least one environment")
  const seed = options.seed ?? 1
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`)
  const rate = options.rate === undefined ? undefined : checkRate(options.rate)
  if (options.count === undefined && rate === undefined) throw new RangeError("count is required unless rate is set")
  const start = options.start ?? (rate === undefined ? defaultStart : Timestamp.fromMillis((options.now ?? Date.now)()))
  return {
    count: options.count === undefined ? Number.POSITIVE_INFINITY : checkCount("count", options.count, 0),
    seed,
    envIds,
    users: checkUserPoolSize(options.users ?? DEFAULT_USERS),
    flags: checkFlagPoolSize(options.flags ?? DEFAULT_FLAGS),
    startMillis: startMillisOf(start),
    rate,
    maxTie: checkMaxTie(checkCount("maxTie", options.maxTie ?? 4, 1)),
    tieBurst: checkCount("tieBurst", options.tieBurst ?? 0, 0),
    malformedEvery: checkCount("malformedEvery", options.malformedEvery ?? 0, 0)
  }
}

const drawDraft = (rng: Prng, options: Resolved): Draft => ({
  id: rng.uuid(),
  kind: rng.below(1000),
  env: rng.below(options.envIds.length),
  user: rng.below(options.users),
  pick: rng.next(),
  value: rng.next(),
  extra: rng.next()
})

/**
 * The rows of one timestamp, in id order. `position` counts the rows before the group, skipped ones
 * included, for `count` and `malformedEvery`; a group cut by `count` keeps its smallest ids, so a smaller
 * count stays a prefix.
 */
const emitGroup = function* (
  group: Array<Draft>,
  position: number,
  timestamp: Timestamp.Timestamp,
  ingestedAt: Timestamp.Timestamp,
  after: After | undefined,
  options: Resolved,
  builder: RowBuilder
): Generator<FeatBitRow, void, undefined> {
  const size = group.length
  if (size > 1) {
    group.sort(compareDrafts)
    // 122 random bits make a repeated id practically impossible; keyset order must not rest on that.
    for (let i = 1; i < size; i++) {
      if (group[i]!.id === group[i - 1]!.id) throw new Error(`generated the id ${group[i]!.id} twice`)
    }
  }
  const { malformedEvery } = options
  const end = Math.min(size, options.count - position)
  for (let i = 0; i < end; i++) {
    const d = group[i]!
    if (after !== undefined && timestamp === after.timestamp && Cursor.compare({ timestamp, id: d.id }, after) <= 0) continue
    const row = builder.build(d, timestamp, ingestedAt)
    const n = position + i + 1
    yield malformedEvery > 0 && n % malformedEvery === 0 ? malformed(row, n / malformedEvery - 1) : row
  }
}

/** FeatBit stamps a row's arrival at the next whole second after the event (its insert flushes every second). */
const makeIngestedAt = (): ((ms: number) => Timestamp.Timestamp) => {
  const format = makeFormatter()
  let second = Number.NaN
  let ingestedAt = "" as Timestamp.Timestamp
  return (ms) => {
    const s = Math.floor(ms / 1000)
    if (s !== second) {
      second = s
      ingestedAt = format((s + 1) * 1000)
    }
    return ingestedAt
  }
}

/** Random gaps and tie groups: the default, shaped like bursty traffic replayed from a store. */
const burstyRows = function* (options: Resolved, after: After | undefined, through: number): Generator<FeatBitRow, void, undefined> {
  const { count, maxTie, tieBurst } = options
  const rng = new Prng(options.seed)
  const builder = makeRowBuilder(options.envIds, options.users, options.flags)
  const formatMillis = makeFormatter()
  const ingestedAtOf = makeIngestedAt()
  const tieRange = maxTie - 1
  let ms = options.startMillis
  let position = 0 // rows emitted or skipped so far
  while (position < count && ms <= through) {
    // Drawn for every group, the burst included, so a read that skips rows consumes the same draws.
    const sizeDraw = rng.below(2 * tieRange)
    const step = 1 + rng.below(MAX_STEP_MS)
    // Half the groups are single rows, the others hold 2..maxTie rows.
    const size =
      position === 0 && tieBurst > 0 ? tieBurst : tieRange === 0 || sizeDraw < tieRange ? 1 : 2 + sizeDraw - tieRange
    const timestamp = formatMillis(ms)
    if (after !== undefined && timestamp < after.timestamp) {
      rng.skip(size * ROW_DRAWS)
    } else {
      const group: Array<Draft> = []
      for (let i = 0; i < size; i++) group.push(drawDraft(rng, options))
      yield* emitGroup(group, position, timestamp, ingestedAtOf(ms), after, options, builder)
    }
    position += size
    ms += step
  }
}

/** Rows at a fixed rate: each row's time follows from its position, so reads find their range by arithmetic. */
const ratedRows = function* (
  options: Resolved,
  rate: number,
  after: After | undefined,
  through: number
): Generator<FeatBitRow, void, undefined> {
  const { count, seed, startMillis } = options
  const builder = makeRowBuilder(options.envIds, options.users, options.flags)
  const formatMillis = makeFormatter()
  const ingestedAtOf = makeIngestedAt()
  // Rows stamped before the cursor's millisecond are never built: their time is known without them.
  let index = after === undefined ? 0 : firstIndexAtOrAfter(ceilMillis(after.timestamp) - startMillis, rate)
  let rng = new Prng(seed, 1 + Math.floor(index / RATE_BLOCK))
  rng.skip((index % RATE_BLOCK) * ROW_DRAWS)
  const draft = (i: number): Draft => {
    if (i % RATE_BLOCK === 0) rng = new Prng(seed, 1 + i / RATE_BLOCK)
    return drawDraft(rng, options)
  }
  while (index < count) {
    const offset = offsetOf(index, rate)
    const ms = startMillis + offset
    if (ms > through) return
    // Every row of the millisecond, also those past `count`, so that a cut group keeps its smallest ids.
    const end = firstIndexAtOrAfter(offset + 1, rate)
    const group: Array<Draft> = []
    for (let i = index; i < end; i++) group.push(draft(i))
    yield* emitGroup(group, index, formatMillis(ms), ingestedAtOf(ms), after, options, builder)
    index = end
  }
}

const rowsOf = (options: Resolved, after: After | undefined, through: number): Generator<FeatBitRow, void, undefined> =>
  options.rate === undefined ? burstyRows(options, after, through) : ratedRows(options, options.rate, after, through)

/**
 * Synthetic FeatBit rows, shaped exactly like ClickHouse's `events` rows, in keyset order: ascending
 * `(timestamp, id)`, no two equal. The same options give the same rows (in rate mode, given the same
 * `start`), and a smaller `count` gives a prefix of a larger one. Bad options throw a `RangeError` at the
 * call, not at the first row.
 */
export const generateRows = (options: GenerateOptions): Generator<FeatBitRow, void, undefined> =>
  rowsOf(resolve(options), undefined, Number.POSITIVE_INFINITY)

/**
 * The rows of `generateRows(options)` strictly after the keyset position `after`, and, when `through` is
 * given, stamped at or before that instant (epoch ms). Rows before `after` are skipped by advancing the
 * PRNG, without being built, so resuming near the end of a long run is cheap; in rate mode the skip is
 * computed, and costs at most a thousand rows' draws however far the cursor is.
 */
export const generateRowsAfter = (
  options: GenerateOptions,
  after: After | undefined,
  through: number = Number.POSITIVE_INFINITY
): Generator<FeatBitRow, void, undefined> => rowsOf(resolve(options), after, through)
