import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { Cursor } from "./Cursor.js"
import type { SourceError } from "./Errors.js"
import { type PassBounds, passBounds } from "./Horizon.js"
import { type Growth, LateBook, type Missed, decodeLateState, millisOf, widthSuits } from "./LateRows.js"
import type { ReadOptions, SourcePage } from "./Source.js"
import type { SourceFilterSettings } from "./SourceFilters.js"
import type { Position, RangePage, RangeRequest, StoreReader } from "./StoreReader.js"
import * as Timestamp from "./Timestamp.js"

/** What a pass needs from a source's configuration. */
export interface PassSettings extends Pick<SourceFilterSettings, "startAt" | "endAt" | "lag" | "lateWindow" | "batchSize"> {}

const later = (a: Timestamp.Timestamp, b: Timestamp.Timestamp | undefined): Timestamp.Timestamp => (b !== undefined && b > a ? b : a)
const earlier = (a: Timestamp.Timestamp, b: Timestamp.Timestamp): Timestamp.Timestamp => (b < a ? b : a)
const justAfter = (timestamp: Timestamp.Timestamp): Timestamp.Timestamp => Timestamp.fromMicros(Timestamp.toMicros(timestamp) + 1n)
const positionOf = (cursor: Cursor): Position => ({ timestamp: cursor.timestamp, id: cursor.id })

/** A duration rounded to what a person reads: 2h 40m, 5m 20s, 12s. */
export const roughly = (ms: number): string => {
  const unit = ms >= 3_600_000 ? 60_000 : 1000
  return Duration.format(Duration.millis(Math.max(unit, Math.round(ms / unit) * unit)))
}

/** A setting that would cover `ms`, rounded up to a whole unit: 3h, 20m, 45s. */
const coveringSetting = (ms: number): string => {
  const unit = ms > 3_600_000 ? 3_600_000 : ms > 60_000 ? 60_000 : 1000
  return Duration.format(Duration.millis(Math.ceil(ms / unit) * unit)).replace(/ /g, "")
}

/** The buckets of `grown` as runs of neighbours: each run is read with one range. */
const runsOf = (grown: ReadonlyArray<Growth>): Array<{ readonly first: number; readonly last: number }> => {
  const runs: Array<{ first: number; last: number }> = []
  for (const { bucket } of grown) {
    const run = runs[runs.length - 1]
    if (run !== undefined && run.last === bucket - 1) run.last = bucket
    else runs.push({ first: bucket, last: bucket })
  }
  return runs
}

const statePage = (cursor: Cursor, state: unknown, counts: { readonly late?: number; readonly missed?: number } = {}): SourcePage => ({
  events: [],
  rejected: [],
  cursor,
  state,
  ...counts
})

/**
 * One pass of a database source, from what its StoreReader says about the store:
 *
 * 1. Reads the store's clock; the pass reads rows up to `clock - lag` (and before `endAt`).
 * 2. With `lateWindow` on and a cursor to look behind, recounts the rows per bucket behind the cursor and
 *    reads again the buckets that grew (narrowed to the rows taken in since the last pass where the store can
 *    tell, verified against the counts, else whole): those rows landed after the cursor passed them. They
 *    are delivered with their own ids in pages whose cursor stays put, and counted as `late`.
 * 3. Now and then recounts the coarse buckets behind the late window: growth there came too late to export,
 *    and is reported (a warning naming how late, and the settings that would have caught it) and counted as
 *    `missed`.
 * 4. Reads the rows after the cursor up to the horizon, counting them into the buckets as it goes.
 *
 * The counts travel with the cursor as the page's `state`, so they are committed exactly when the rows they
 * count are.
 */
export const readPass = (
  reader: StoreReader,
  settings: PassSettings,
  from: Cursor | undefined,
  options: ReadOptions
): Stream.Stream<SourcePage, SourceError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const time = yield* reader.storeTime
      const bounds = passBounds(time.now, settings)
      options.onPass?.({ storeTime: time.now, horizon: bounds.horizon })
      const pageSize = settings.batchSize ?? options.pageSize
      const lateWindow = settings.lateWindow
      const windowMs = Duration.toMillis(lateWindow)

      let book: LateBook | undefined
      let behind: Stream.Stream<SourcePage, SourceError> = Stream.empty
      if (windowMs > 0) {
        const state = decodeLateState(options.state)
        if (from === undefined) {
          book = LateBook.empty(lateWindow)
        } else if (state !== undefined && widthSuits(state.width, lateWindow)) {
          const resumed = LateBook.resume(state, lateWindow)
          book = resumed
          behind = lookBehind(reader, settings, resumed, from, state.mark, time.mark, time.now, pageSize)
        } else {
          behind = Stream.fromEffect(
            Effect.gen(function* () {
              const started = yield* startTracking(reader, settings, from)
              book = started
              return statePage(from, started.snapshot(time.mark))
            })
          )
        }
      }

      const main = reader.read(mainRange(settings, from, bounds), pageSize).pipe(
        Stream.map((page): SourcePage => {
          book?.add(page.times)
          book?.retire(page.cursor.timestamp)
          return { events: page.events, rejected: page.rejected, cursor: page.cursor, state: book?.snapshot(time.mark) }
        })
      )
      return Stream.concat(behind, main)
    })
  )

const mainRange = (settings: PassSettings, from: Cursor | undefined, bounds: PassBounds): RangeRequest =>
  from === undefined ? { from: settings.startAt, before: bounds.before } : { after: from, before: bounds.before }

/**
 * A cursor without counts (a checkpoint from before late rows were tracked, or a late window too different
 * from the one the counts were kept for): what lies behind the cursor now is taken as delivered.
 */
const startTracking = (reader: StoreReader, settings: PassSettings, cursor: Cursor): Effect.Effect<LateBook, SourceError> =>
  Effect.gen(function* () {
    const empty = LateBook.empty(settings.lateWindow)
    const lo = later(empty.bucketStart(empty.bucketOfMillis(millisOf(cursor.timestamp) - Duration.toMillis(settings.lateWindow))), settings.startAt)
    const counted = yield* reader.count({ from: lo, through: positionOf(cursor), width: empty.width })
    yield* Effect.logInfo(
      `late rows are looked for from now on, up to ${Duration.format(settings.lateWindow)} behind the cursor; rows already there are taken as delivered`
    )
    return LateBook.baseline(settings.lateWindow, counted, cursor.timestamp)
  })

/** Steps 2 and 3 of `readPass`: late rows read again, and the audit behind the late window. */
const lookBehind = (
  reader: StoreReader,
  settings: PassSettings,
  book: LateBook,
  cursor: Cursor,
  previousMark: string | undefined,
  mark: string | undefined,
  now: Timestamp.Timestamp,
  pageSize: number
): Stream.Stream<SourcePage, SourceError> =>
  Stream.unwrap(
    Effect.gen(function* () {
      book.retire(cursor.timestamp)
      const through = positionOf(cursor)
      const fineStart = book.fineStart()
      const stages: Array<Stream.Stream<SourcePage, SourceError>> = []
      if (fineStart !== undefined) {
        const counted = yield* reader.count({ from: later(fineStart, settings.startAt), through, width: book.width })
        const { grown, shrunk } = book.compare(counted)
        if (grown.length > 0) {
          stages.push(readAgain(reader, settings, book, grown, cursor, previousMark, mark, pageSize))
        } else if (shrunk || mark !== previousMark) {
          // Nothing grew: the counts hold as of this pass's mark. Committing it keeps the next narrowed read to
          // what comes in from now on (and a bucket that shrank, rows deleted by FeatBit's retention tool,
          // keeps its smaller count).
          stages.push(Stream.succeed(statePage(cursor, book.snapshot(mark))))
        }
      }
      if (book.auditDue(now)) stages.push(Stream.fromEffect(audit(reader, settings, book, cursor, mark, now)))
      return stages.reduce((all, stage) => Stream.concat(all, stage), Stream.empty as Stream.Stream<SourcePage, SourceError>)
    })
  )

/**
 * Reads again the buckets that grew. Where the store narrows reads to rows taken in since a mark, only those
 * come back: a columnar store in one range from the first grown bucket to the cursor, a row store in one range
 * per run of neighbouring grown buckets (a narrowed read still looks at every row of its range). A bucket
 * whose narrowed rows fall short of its growth (a clock or a mark that misled) is then read whole. Where the
 * store cannot narrow, grown buckets are read whole, and the rows delivered before are sent again, with
 * their ids.
 */
const readAgain = (
  reader: StoreReader,
  settings: PassSettings,
  book: LateBook,
  grown: ReadonlyArray<Growth>,
  cursor: Cursor,
  previousMark: string | undefined,
  mark: string | undefined,
  pageSize: number
): Stream.Stream<SourcePage, SourceError> => {
  const through = positionOf(cursor)
  const end = justAfter(cursor.timestamp)
  const unchanged = book.snapshot(previousMark)
  const narrowed = reader.narrows !== false && previousMark !== undefined
  const ranges = (buckets: ReadonlyArray<Growth>, since: string | undefined): Array<RangeRequest> =>
    runsOf(buckets).map((run) => ({
      from: later(book.bucketStart(run.first), settings.startAt),
      before: earlier(book.bucketStart(run.last + 1), end),
      through,
      ...(since === undefined ? {} : { since })
    }))
  const tallyOf = (requests: ReadonlyArray<RangeRequest>, tally: Map<number, number>) =>
    Stream.fromIterable(requests).pipe(
      Stream.flatMap((request) => reader.read(request, pageSize)),
      Stream.map((page: RangePage): SourcePage => {
        for (const time of page.times) {
          const bucket = book.bucketOfMillis(millisOf(time))
          tally.set(bucket, (tally.get(bucket) ?? 0) + 1)
        }
        return { events: page.events, rejected: page.rejected, cursor, state: unchanged }
      })
    )

  const first = new Map<number, number>()
  const whole = new Map<number, number>()
  const firstRequests: Array<RangeRequest> =
    narrowed && reader.narrows === "span"
      ? [
          {
            from: later(book.bucketStart(grown[0]!.bucket), settings.startAt),
            before: end,
            through,
            since: previousMark,
            buckets: { width: book.width, indexes: grown.map((g) => g.bucket) }
          }
        ]
      : ranges(grown, narrowed ? previousMark : undefined)
  const short = (): Array<Growth> => (narrowed ? grown.filter((g) => (first.get(g.bucket) ?? 0) < g.counted - g.delivered) : [])

  const settle = Effect.gen(function* () {
    const readWhole = new Set(narrowed ? [...whole.keys()] : [])
    let late = 0
    let read = 0
    let farthest = 0
    for (const g of grown) {
      late += g.counted - g.delivered
      farthest = Math.max(farthest, millisOf(cursor.timestamp) - g.bucket * book.width)
      if (!narrowed) book.settle(g.bucket, first.get(g.bucket) ?? 0)
      else if (readWhole.has(g.bucket)) book.settle(g.bucket, whole.get(g.bucket) ?? 0)
      else book.settle(g.bucket, g.counted)
    }
    for (const rows of first.values()) read += rows
    for (const rows of whole.values()) read += rows
    const again = Math.max(0, read - late)
    yield* Effect.logInfo(
      `exported ${late} late row${late === 1 ? "" : "s"}: ${late === 1 ? "it" : "they"} landed behind the cursor after it had passed, up to ${roughly(farthest)} behind it (lateWindow ${Duration.format(settings.lateWindow)})` +
        (again === 0 ? "" : `; ${again} row${again === 1 ? "" : "s"} of the same time span ${again === 1 ? "was" : "were"} sent again, with ${again === 1 ? "its id" : "their ids"}`)
    )
    return statePage(cursor, book.snapshot(mark), { late })
  })

  return tallyOf(firstRequests, first).pipe(
    Stream.concat(Stream.suspend(() => tallyOf(ranges(short(), undefined), whole))),
    Stream.concat(Stream.fromEffect(settle))
  )
}

/** Recounts the coarse buckets behind the late window and reports what grew there. */
const audit = (
  reader: StoreReader,
  settings: PassSettings,
  book: LateBook,
  cursor: Cursor,
  mark: string | undefined,
  now: Timestamp.Timestamp
): Effect.Effect<SourcePage, SourceError> =>
  Effect.gen(function* () {
    const auditStart = book.auditStart()
    const fineStart = book.fineStart()
    let missed: Array<Missed> = []
    if (auditStart !== undefined && fineStart !== undefined) {
      const counted = yield* reader.count({ from: later(auditStart, settings.startAt), before: fineStart, width: book.coarseWidth })
      missed = book.audit(counted, now)
    } else {
      book.audit([], now)
    }
    const cursorMs = millisOf(cursor.timestamp)
    const nowMs = millisOf(now)
    for (const range of missed) {
      const nearest = cursorMs - millisOf(range.before)
      const farthest = cursorMs - millisOf(range.from)
      yield* Effect.logWarning(
        `${range.rows} row${range.rows === 1 ? "" : "s"} dated ${range.from} to ${range.before} landed after the cursor had passed ${range.rows === 1 ? "it" : "them"} by more than lateWindow (${Duration.format(settings.lateWindow)}): ` +
          `${roughly(nearest)} to ${roughly(farthest)} behind the cursor, ${roughly(nowMs - millisOf(range.before))} to ${roughly(nowMs - millisOf(range.from))} behind the store's clock; ${range.rows === 1 ? "it is" : "they are"} not exported. ` +
          `lateWindow: ${coveringSetting(farthest)} would have exported ${range.rows === 1 ? "it" : "them"} as late rows (or lag: ${coveringSetting(nowMs - millisOf(range.from))} as ordinary ones); ` +
          `to export ${range.rows === 1 ? "it" : "them"} now, run a pipeline of its own with startAt: ${range.from} and endAt: ${range.before} (destinations dedupe on the event id)`
      )
    }
    const total = missed.reduce((sum, range) => sum + range.rows, 0)
    return statePage(cursor, book.snapshot(mark), total === 0 ? {} : { missed: total })
  })
