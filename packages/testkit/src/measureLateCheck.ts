import { type Cursor, type FeatBitRow, type Source, Timestamp } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** A store with a source on it, for measuring what looking for late rows costs. */
export interface LateCheckSubject {
  /** Inserts rows as FeatBit does (`ingestedAt`: when FeatBit took each one in, for a store that keeps it). */
  readonly insert: (rows: ReadonlyArray<FeatBitRow>) => Promise<void>
  /** The store's clock, ms since the epoch. */
  readonly now: () => Promise<number>
  /** The source on the store, with its defaults (lag 30s, lateWindow 1h). */
  readonly open: () => Effect.Effect<Source, unknown, Scope.Scope>
}

export interface LateCheckCost {
  readonly rows: number
  /** Milliseconds to read every row once, from the start: the baseline. */
  readonly fullReadMs: number
  /** Milliseconds of a pass that finds nothing new (recounting the window behind the cursor). */
  readonly quietPassMs: ReadonlyArray<number>
  /** Milliseconds of a pass that finds `lateRows` late rows and exports them. */
  readonly latePassMs: ReadonlyArray<number>
  readonly lateRows: number
  /** Rows each late pass delivered, late ones and rows sent again. */
  readonly deliveredPerLatePass: ReadonlyArray<number>
  /** What each late pass counted as late. */
  readonly countedLate: ReadonlyArray<number>
}

interface Pass {
  readonly ms: number
  readonly cursor: Cursor.Cursor | undefined
  readonly state: unknown
  readonly delivered: number
  readonly late: number
}

const pass = (source: Source, from: Cursor.Cursor | undefined, state: unknown, pageSize: number) =>
  Effect.gen(function* () {
    const started = performance.now()
    let cursor = from
    let last = state
    let delivered = 0
    let late = 0
    yield* source.read(from, { pageSize, state }).pipe(
      Stream.runForEach((page) =>
        Effect.sync(() => {
          cursor = page.cursor
          if (page.state !== undefined) last = page.state
          delivered += page.events.length + page.rejected.length
          late += page.late ?? 0
        })
      )
    )
    return { ms: performance.now() - started, cursor, state: last, delivered, late } satisfies Pass
  })

/**
 * What a source's late-row check costs: `rows` production-shaped rows spread over the hour behind the
 * cursor (all of them inside the default lateWindow), read once; then passes that find nothing new, and
 * passes after `lateRows` late rows landed in that hour. Times are of whole passes, clock and counts included.
 */
export const measureLateCheck = (subject: LateCheckSubject, options: { readonly rows: number; readonly lateRows?: number; readonly rounds?: number; readonly pageSize?: number }) =>
  Effect.gen(function* () {
    const lateRows = options.lateRows ?? 100
    const rounds = options.rounds ?? 3
    const pageSize = options.pageSize ?? 5_000
    const now = yield* Effect.promise(() => subject.now())
    // The hour that ends two minutes ago: behind every cursor of the passes below, inside lateWindow.
    const start = now - 62 * 60_000
    const step = 3_600_000 / options.rows
    const stamp = (i: number) => Timestamp.fromMillis(start + Math.floor(i * step))
    // In chunks, so a million rows never sit in memory at once.
    let chunk: Array<FeatBitRow> = []
    let i = 0
    for (const row of generateRows({ count: options.rows, seed: 71 })) {
      // The history came in as it happened: two seconds after each event.
      const timestamp = stamp(i++)
      chunk.push({ ...row, timestamp, ingestedAt: Timestamp.fromMillis(Date.parse(timestamp.slice(0, 23) + "Z") + 2_000) })
      if (chunk.length === 20_000) {
        const full = chunk
        yield* Effect.promise(() => subject.insert(full))
        chunk = []
      }
    }
    if (chunk.length > 0) yield* Effect.promise(() => subject.insert(chunk))
    const source = yield* subject.open()
    const full = yield* pass(source, undefined, undefined, pageSize)
    if (full.delivered !== options.rows) throw new Error(`the full read delivered ${full.delivered} rows, not ${options.rows}`)
    let at = { cursor: full.cursor, state: full.state }
    const quietPassMs: Array<number> = []
    const latePassMs: Array<number> = []
    const deliveredPerLatePass: Array<number> = []
    const countedLate: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      const quiet = yield* pass(source, at.cursor, at.state, pageSize)
      quietPassMs.push(quiet.ms)
      at = { cursor: quiet.cursor, state: quiet.state }
      const arrived = Timestamp.fromMillis(yield* Effect.promise(() => subject.now()))
      const late = [...generateRows({ count: lateRows, seed: 72 + round })].map((row, i) => ({
        ...row,
        // A different spot of each bucket per round... and different buckets: rounds do not land on each other.
        timestamp: stamp(Math.floor(((i + (round + 1) / (rounds + 1)) * options.rows) / lateRows)),
        ingestedAt: arrived
      }))
      yield* Effect.promise(() => subject.insert(late))
      const found = yield* pass(source, at.cursor, at.state, pageSize)
      latePassMs.push(found.ms)
      deliveredPerLatePass.push(found.delivered)
      countedLate.push(found.late)
      at = { cursor: found.cursor, state: found.state }
    }
    return { rows: options.rows, fullReadMs: full.ms, quietPassMs, latePassMs, lateRows, deliveredPerLatePass, countedLate } satisfies LateCheckCost
  }).pipe(Effect.scoped)

const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

/** The measurement as the lines a benchmark prints. */
export const describeLateCheck = (name: string, cost: LateCheckCost): string => {
  const quiet = median(cost.quietPassMs)
  const late = median(cost.latePassMs)
  return [
    `${name} late-row check, ${cost.rows.toLocaleString("en-US")} rows in the hour behind the cursor (lateWindow 1h):`,
    `  full read of the rows: ${Math.round(cost.fullReadMs)} ms`,
    `  pass finding nothing new: ${cost.quietPassMs.map((ms) => Math.round(ms)).join(", ")} ms; median ${Math.round(quiet)} ms = ${((quiet / cost.fullReadMs) * 100).toFixed(1)}% of the full read`,
    `  pass after ${cost.lateRows} late rows landed: ${cost.latePassMs.map((ms) => Math.round(ms)).join(", ")} ms; median ${Math.round(late)} ms; delivered ${cost.deliveredPerLatePass.join(", ")} rows (late counted: ${cost.countedLate.join(", ")})`
  ].join("\n")
}
