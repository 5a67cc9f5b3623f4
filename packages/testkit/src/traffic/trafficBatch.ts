import { type FeatBitRow, Timestamp } from "@featbit-export/core"
import { generateRowsAfter } from "@featbit-export/source-generate"

/** A range of milliseconds, both ends included. */
export interface MillisRange {
  readonly min: number
  readonly max: number
}

/** What decides the rows of a flush: how many, which, and how they are stamped. */
export interface TrafficRowOptions {
  /** Rows per second (> 0). */
  readonly rate: number
  /** 0..1: the share of rows stamped far in the past, as from an SDK that was offline (default 0). */
  readonly lateShare?: number | undefined
  /** How far behind the flush time late rows are stamped, in ms (default 60,000..600,000). */
  readonly lateBy?: MillisRange | undefined
  /** How far behind the flush time other rows are stamped, in ms (default 0..1000: SDKs send every second). */
  readonly sdkDelay?: MillisRange | undefined
  /** Same seed, same rows (default 1). */
  readonly seed?: number | undefined
  /** Environments the rows are spread over (default: the generator's two). */
  readonly envIds?: ReadonlyArray<string> | undefined
  /** Size of the generator's user pool (default 20,000). */
  readonly users?: number | undefined
  /** Size of the generator's flag pool (default 60). */
  readonly flags?: number | undefined
}

/** One flush on the writer's timeline, in epoch ms. */
export interface FlushWindow {
  /** When the writer started: the rows' timeline begins here. */
  readonly start: number
  /** The previous flush (`start` for the first): rows due from here on are this flush's. */
  readonly since: number
  /** This flush: rows due before it are inserted now, stamped relative to it. */
  readonly at: number
}

export interface TrafficBatch {
  /** Every row of the flush, in the order they are inserted. */
  readonly rows: ReadonlyArray<FeatBitRow>
  /** The late rows among them. */
  readonly late: ReadonlyArray<FeatBitRow>
}

const defaultLateBy: MillisRange = { min: 60_000, max: 600_000 }
const defaultSdkDelay: MillisRange = { min: 0, max: 1000 }

const checkRange = (name: string, range: MillisRange): MillisRange => {
  if (!Number.isSafeInteger(range.min) || !Number.isSafeInteger(range.max) || range.min < 0 || range.max < range.min) {
    throw new RangeError(`${name} must be whole milliseconds with 0 <= min <= max, got ${range.min}..${range.max}`)
  }
  return range
}

/** Checks the options a writer is started with, so that a mistake throws at the call, not in a timer. */
export const checkTrafficRowOptions = (options: TrafficRowOptions): void => {
  if (!(options.rate > 0) || !Number.isFinite(options.rate)) throw new RangeError(`rate must be a positive number of rows per second, got ${options.rate}`)
  const share = options.lateShare ?? 0
  if (!(share >= 0 && share <= 1)) throw new RangeError(`lateShare must be between 0 and 1, got ${share}`)
  checkRange("lateBy", options.lateBy ?? defaultLateBy)
  checkRange("sdkDelay", options.sdkDelay ?? defaultSdkDelay)
}

const checkWindow = ({ start, since, at }: FlushWindow): void => {
  if (![start, since, at].every(Number.isSafeInteger) || since < start || at < since) {
    throw new RangeError(`a flush window needs whole milliseconds with start <= since <= at, got ${start}, ${since}, ${at}`)
  }
}

/**
 * Two independent uniform draws in [0, 1) from a row's uuid, whose bits the generator drew at random: the
 * first 32 bits and the last 32. They decide lateness and delay, so a flush needs no PRNG of its own and
 * the same row is always stamped the same way.
 */
const drawsOf = (id: string): readonly [number, number] => [
  Number.parseInt(id.slice(0, 8), 16) / 2 ** 32,
  Number.parseInt(id.slice(28, 36), 16) / 2 ** 32
]

const pick = (range: MillisRange, draw: number): number => range.min + Math.floor(draw * (range.max - range.min + 1))

/**
 * The rows one flush at `window.at` inserts: the rows of the generator's timeline (started at
 * `window.start`, `rate` rows a second) due in `[since, at)`, re-stamped as FeatBit would store them.
 * Ordinary rows are stamped `at - sdkDelay`, late ones `at - lateBy`; `ingestedAt` is `at` cut to the
 * second, like ClickHouse's `_timestamp`. Flushes that split the timeline differently cover the same rows,
 * and the same options and window always give the same rows.
 */
export const trafficBatch = (options: TrafficRowOptions, window: FlushWindow): TrafficBatch => {
  checkTrafficRowOptions(options)
  checkWindow(window)
  const { since, at } = window
  const lateShare = options.lateShare ?? 0
  const lateBy = options.lateBy ?? defaultLateBy
  const sdkDelay = options.sdkDelay ?? defaultSdkDelay
  const ingestedAt = Timestamp.fromMillis(Math.floor(at / 1000) * 1000)
  // Just before `since`: the rows of earlier milliseconds belong to earlier flushes.
  const after = { timestamp: Timestamp.fromMicros(BigInt(since) * 1000n - 1n), id: "" }
  const timeline = generateRowsAfter(
    {
      rate: options.rate,
      start: Timestamp.fromMillis(window.start),
      seed: options.seed,
      envIds: options.envIds,
      users: options.users,
      flags: options.flags
    },
    after,
    at - 1
  )
  const rows: Array<FeatBitRow> = []
  const late: Array<FeatBitRow> = []
  for (const row of timeline) {
    const [lateDraw, delayDraw] = drawsOf(row.id)
    const isLate = lateDraw < lateShare
    const stamped: FeatBitRow = {
      ...row,
      timestamp: Timestamp.fromMillis(at - pick(isLate ? lateBy : sdkDelay, delayDraw)),
      ingestedAt
    }
    rows.push(stamped)
    if (isLate) late.push(stamped)
  }
  return { rows, late }
}
