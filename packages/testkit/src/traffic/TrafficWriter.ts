import type { FeatBitRow } from "@featbit-export/core"
import { type TrafficRowOptions, checkTrafficRowOptions, trafficBatch } from "./trafficBatch.js"

/** Where a traffic writer inserts its rows: a real store, through whatever client the test uses. */
export interface TrafficStore {
  readonly insert: (rows: ReadonlyArray<FeatBitRow>) => Promise<void>
}

export interface TrafficOptions extends TrafficRowOptions {
  /** Milliseconds between inserts (default 1000, as FeatBit's InsightsWriter flushes once a second). */
  readonly flushInterval?: number | undefined
  /** The clock rows are stamped with, in epoch ms (default `Date.now`). */
  readonly now?: (() => number) | undefined
}

export interface Traffic {
  /** Every row inserted so far, in insert order (the rows of a failed insert are not among them). */
  readonly written: () => ReadonlyArray<FeatBitRow>
  /** The late rows among them. */
  readonly late: () => ReadonlyArray<FeatBitRow>
  /** Stops after the insert in progress; rejects with the first insert failure, if there was one. */
  readonly stop: () => Promise<void>
}

/**
 * Inserts FeatBit-shaped rows into a store while a test runs, as FeatBit's servers do: every
 * `flushInterval` one insert holding the rows that fell due since the last (`rate` a second, from the
 * generator), a share of them stamped long ago (`trafficBatch` builds each flush). Inserts never overlap:
 * the next is scheduled when one completes. A failed insert stops the writer, and `stop()` rejects with
 * it. The timer does not keep the process alive, so a test that forgets `stop()` still ends.
 * Throws a `RangeError` for invalid options.
 */
export const startTraffic = (store: TrafficStore, options: TrafficOptions): Traffic => {
  checkTrafficRowOptions(options)
  const flushInterval = options.flushInterval ?? 1000
  if (!Number.isSafeInteger(flushInterval) || flushInterval < 1) {
    throw new RangeError(`flushInterval must be a whole number of milliseconds, at least 1, got ${flushInterval}`)
  }
  const now = options.now ?? Date.now
  const start = Math.floor(now())
  let since = start
  const written: Array<FeatBitRow> = []
  const late: Array<FeatBitRow> = []
  let stopped = false
  let failure: { readonly error: unknown } | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let inFlight: Promise<void> | undefined

  const flush = async (): Promise<void> => {
    // A clock that goes back must not make a window that ends before it starts.
    const at = Math.max(since, Math.floor(now()))
    const batch = trafficBatch(options, { start, since, at })
    since = at
    // FeatBit's writer skips the database when its buffer is empty.
    if (batch.rows.length === 0) return
    await store.insert(batch.rows)
    written.push(...batch.rows)
    late.push(...batch.late)
  }

  const tick = (): void => {
    timer = undefined
    inFlight = flush().then(
      () => {
        inFlight = undefined
        schedule()
      },
      (error: unknown) => {
        inFlight = undefined
        failure ??= { error }
        stopped = true
      }
    )
  }

  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(tick, flushInterval)
    timer.unref()
  }

  schedule()
  return {
    written: () => written.slice(),
    late: () => late.slice(),
    stop: async () => {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      await inFlight
      if (failure !== undefined) throw failure.error
    }
  }
}
