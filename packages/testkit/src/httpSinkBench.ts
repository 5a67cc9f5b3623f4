// The mechanics of the HTTP sinks' throughput benchmarks (`@featbit-export/testkit/http-bench`): a receiver
// double in a process of its own (so its parsing and bookkeeping do not share the sink's CPU time slice),
// bare POSTs of the same bodies as the baseline, and paired alternating rounds, so that each sink's script
// only says what its requests are. Node builtins and effect only: a benchmark must not load vitest.
import { type ExportEvent, Timestamp, chunkRequests, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { spawn } from "node:child_process"
import * as readline from "node:readline"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { pairedRounds } from "./pairedRounds.js"

/** What a receiver's `GET /stats` returned. */
export type ReceiverStats = Readonly<Record<string, unknown>>

/** A receiver CLI running as a child process. */
export interface ReceiverProcess {
  /** `http://host:port`, as it announced. */
  readonly url: string
  readonly stats: () => Promise<ReceiverStats>
  /** SIGTERM, then waits for it to exit. */
  readonly stop: () => Promise<void>
}

/**
 * Starts `node cli ...args` and waits for its `{"url": ...}` line. Its stderr is the benchmark's, so a
 * receiver that fails to start says why.
 */
export const startReceiverCli = (cli: string, args: ReadonlyArray<string>): Promise<ReceiverProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "inherit"] })
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    // A benchmark that throws before stopping it must not leave the receiver running on its own.
    const orphaned = () => child.kill("SIGTERM")
    process.once("exit", orphaned)
    const lines = readline.createInterface({ input: child.stdout })
    child.once("error", reject)
    child.once("exit", (code, signal) => reject(new Error(`${cli} exited (${signal ?? code}) before announcing its url`)))
    lines.once("line", (line) => {
      const url = (JSON.parse(line) as { url: string }).url
      resolve({
        url,
        stats: async () => (await (await fetch(`${url}/stats`)).json()) as ReceiverStats,
        stop: async () => {
          process.off("exit", orphaned)
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
          await exited
        }
      })
    })
  })

/** One bare request of the baseline. */
export interface BarePost {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | Uint8Array
}

/**
 * POSTs the request each item makes, `inFlight` at a time, as the sink may have them in flight; each body is
 * made when its turn comes (as the sink makes its own), and every answer must be `status`.
 */
export const barePosts = async <T>(
  items: ReadonlyArray<T>,
  request: (item: T) => BarePost | Promise<BarePost>,
  options: { readonly inFlight: number; readonly status?: number }
): Promise<void> => {
  const status = options.status ?? 200
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const { url, headers, body } = await request(items[next++]!)
      const response = await fetch(url, { method: "POST", headers, body })
      // Read to the end either way: the connection goes back to the pool only then.
      const text = await response.text()
      if (response.status !== status) throw new Error(`a bare POST to ${url} was answered HTTP ${response.status}, not ${status}: ${text.slice(0, 300)}`)
    }
  }
  await Promise.all(Array.from({ length: options.inFlight }, worker))
}

/** The part of a sink plugin a benchmark runs (structural, so this module needs no import of core). */
export interface BenchPlugin<C> {
  readonly make: (
    config: C,
    context: { readonly pipeline: string; readonly baseDir: string }
  ) => Effect.Effect<{ readonly write: (batch: never) => Effect.Effect<unknown, unknown> }, unknown, Scope.Scope>
}

/**
 * Makes the sink, writes every batch, `inFlight` batches at once, and closes it; fails when the sink
 * refused an event (the receiver would still count the baseline's copy, so its counts alone would not say).
 */
export const writeBatches = async <C, B extends { readonly events: ReadonlyArray<unknown> }>(
  plugin: BenchPlugin<C>,
  config: C,
  batches: ReadonlyArray<B>,
  options: { readonly inFlight: number; readonly baseDir: string }
): Promise<void> => {
  const rejected = await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const sink = yield* plugin.make(config, { pipeline: "bench", baseDir: options.baseDir })
        const results = yield* Effect.forEach(batches, (batch) => sink.write(batch as never), { concurrency: options.inFlight })
        return results.reduce<number>((n, result) => n + ((result as { rejected?: ReadonlyArray<unknown> }).rejected?.length ?? 0), 0)
      })
    )
  )
  if (rejected > 0) throw new Error(`the sink refused ${rejected} events`)
}

/** How long `run` took, in milliseconds. */
export const timed = async (run: () => Promise<unknown>): Promise<number> => {
  const started = performance.now()
  await run()
  return performance.now() - started
}

export interface HttpSinkBenchOptions {
  /** Names the benchmark in its messages ("sink-amplitude throughput"). */
  readonly name: string
  readonly receiver: ReceiverProcess
  /** Events each run sends. */
  readonly events: number
  /** Requests of one bare run (the sink sends as many when nothing is refused). */
  readonly requestsPerRun: number
  readonly rounds: number
  /** The sink's run (untimed: this times it). */
  readonly sink: () => Promise<void>
  /** The bare posts' run, body making included. */
  readonly plain: () => Promise<void>
  /** The receiver's count of events it took, duplicates included: each run must add `events` to it. */
  readonly received: (stats: ReceiverStats) => number
  /** The receiver's count of distinct events: every run sends the same ones, so it must equal `events`. */
  readonly unique: (stats: ReceiverStats) => number
  /** The least ratio sink/plain that passes (default 0.5). */
  readonly minRatio?: number
  /** More fields for the printed line. */
  readonly extra?: Readonly<Record<string, unknown>>
}

/**
 * Runs both paths in paired alternating rounds after a warm-up of each, checks after every run that the
 * receiver took all its events, prints one JSON line, stops the receiver, and sets a non-zero exit code when
 * the receiver's distinct count is not `events` or the ratio is under `minRatio`.
 */
export const runHttpSinkBench = async (options: HttpSinkBenchOptions): Promise<void> => {
  const minRatio = options.minRatio ?? 0.5
  const problems: Array<string> = []
  // The stats are read outside the timer: the check costs the runs nothing.
  const checked = (what: string, run: () => Promise<void>) => async (): Promise<number> => {
    const before = options.received(await options.receiver.stats())
    const ms = await timed(run)
    const took = options.received(await options.receiver.stats()) - before
    if (took !== options.events) problems.push(`a ${what} run delivered ${took} events, not ${options.events}`)
    return ms
  }
  try {
    const timings = await pairedRounds({ rounds: options.rounds, subject: checked("sink", options.sink), baseline: checked("plain", options.plain) })
    const stats = await options.receiver.stats()
    const unique = options.unique(stats)
    if (unique !== options.events) problems.push(`the receiver holds ${unique} distinct events, not ${options.events}`)
    const rate = (ms: number) => Math.round(options.events / (ms / 1000))
    const ratio = Number(timings.ratio.toFixed(2))
    console.log(
      JSON.stringify({
        bench: options.name,
        events: options.events,
        requestsPerRun: options.requestsPerRun,
        plainEventsPerSecond: rate(timings.baselineMedianMs),
        sinkEventsPerSecond: rate(timings.subjectMedianMs),
        ratio,
        ...options.extra,
        rounds: timings.subjectMs.map((ms, i) => ({ sinkMs: Math.round(ms), plainMs: Math.round(timings.baselineMs[i]!) })),
        receiver: stats
      })
    )
    if (timings.ratio < minRatio) problems.push(`the sink ran at ${ratio} of bare posts, under ${minRatio}`)
  } catch (error) {
    problems.push(error instanceof Error ? (error.stack ?? error.message) : String(error))
  } finally {
    await options.receiver.stop()
  }
  for (const problem of problems) console.error(`${options.name}: ${problem}`)
  if (problems.length > 0) process.exitCode = 1
}

/** A batch as the engine hands it to a sink. */
export interface BenchBatch {
  readonly events: ReadonlyArray<ExportEvent>
  readonly sequence: number
}

/**
 * `count` production-shaped events in the engine's batches of `batchSize`: they start an hour ago, spread
 * evenly over 50 minutes. The generator's bursty default steps (about 50 ms apart) would spread 200,000 events
 * over nearly 3 hours, a quarter of them more than an hour in the future, which Mixpanel's /import refuses;
 * the same events go to every HTTP sink's benchmark.
 */
export const benchBatches = (count: number, batchSize: number): { readonly events: ReadonlyArray<ExportEvent>; readonly batches: ReadonlyArray<BenchBatch> } => {
  const start = Timestamp.fromMillis(Date.now() - 3_600_000)
  const events = [...generateRows({ count, seed: 1, start, rate: count / 3_000 })].flatMap((row) => {
    const decoded = decodeFeatBitRow(row)
    return decoded._tag === "Right" ? [decoded.right] : []
  })
  const batches: Array<BenchBatch> = []
  for (let i = 0; i < events.length; i += batchSize) batches.push({ events: events.slice(i, i + batchSize), sequence: i / batchSize })
  return { events, batches }
}

/**
 * The events of each request a sink makes of these batches, grouped once before any timer (each bare post
 * renders its own events when its turn comes, as the sink renders a batch when it writes it).
 */
export const requestGroups = (
  batches: ReadonlyArray<BenchBatch>,
  render: (event: ExportEvent) => string,
  limits: { readonly maxEventsPerRequest: number; readonly maxBytesPerRequest: number; readonly envelopeBytes: number }
): Array<ReadonlyArray<ExportEvent>> =>
  batches.flatMap((batch) =>
    chunkRequests(
      batch.events.map((event) => ({ event, bytes: Buffer.byteLength(render(event)) })),
      limits.maxEventsPerRequest,
      limits.maxBytesPerRequest,
      limits.envelopeBytes
    ).map((items) => items.map((item) => item.event))
  )
