import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Stream from "effect/Stream"
import { CHECKPOINT_VERSION, type Checkpoint, CheckpointStore } from "./CheckpointStore.js"
import * as Cursor from "./Cursor.js"
import { type DeadLetter, DeadLetterStore } from "./DeadLetter.js"
import type { ExportEvent } from "./Event.js"
import { type CheckpointError, type DeadLetterError, DeadLetterLimitError, PipelineError, type SinkError, SourceError } from "./Errors.js"
import { PipelineProgress } from "./Progress.js"
import { type RetryPolicy, retrySchedule } from "./Retry.js"
import { compareSelection } from "./Selection.js"
import { type Sink, type SinkBatch, type WriteResult, accepted } from "./Sink.js"
import type { PassInfo, Source, SourcePage } from "./Source.js"
import type { EventEnricher } from "./Enrich.js"
import type { EventTransform, SinkFields, TransformOutcome } from "./Transform.js"

/** Everything the engine needs to run one pipeline. */
export interface PipelineOptions {
  readonly name: string
  readonly source: Source
  readonly sink: Sink
  /** Plugin names, for messages and dead letters. */
  readonly sourceType: string
  readonly sinkType: string
  /** Rows per page asked of the source. */
  readonly batchSize: number
  /** Batches being written at once; the cursor still only moves over a contiguous acknowledged prefix. */
  readonly inFlight: number
  readonly retry: RetryPolicy
  /**
   * At most `max` of the last `window` rows read may be dead-lettered; the batch that would pass it stops the
   * pipeline uncommitted. Default: no limit.
   */
  readonly deadLetterLimit?: DeadLetterLimit | undefined
  /** `once`: catch up and return. `follow`: catch up, wait `pollInterval`, read again, until stopped. */
  readonly mode: "once" | "follow"
  readonly pollInterval: Duration.DurationInput
  /**
   * Completing it asks for a graceful stop: no new page is read, batches in flight finish (or fail), what
   * was acknowledged is committed, and `run` returns.
   */
  readonly stop?: Deferred.Deferred<void> | undefined
  readonly progress?: PipelineProgress | undefined
  /** Adds what FeatBit knows of each flag to its evaluations, as each page is read (before the transform). */
  readonly enrich?: EventEnricher | undefined
  /** The pipeline's filter, transform and sink map; applied to each page before it goes to the sink. */
  readonly transform?: EventTransform | undefined
}

export interface DeadLetterLimit {
  readonly max: number
  readonly window: number
}

export interface PipelineSummary {
  readonly pipeline: string
  readonly exported: number
  readonly deadLettered: number
  /** Rows delivered after landing behind the cursor. */
  readonly late: number
  /** Rows found too late to export, reported in warnings. */
  readonly missed: number
  /** Events the filter left out. */
  readonly filtered: number
  /** Flag evaluations enrichment found no flag or variation for (a deleted flag), exported without its values. */
  readonly unenriched: number
  readonly batches: number
  readonly retries: number
  readonly cursor: Cursor.Cursor | undefined
  readonly elapsedMs: number
}

/** Events after the transform step: what goes to the sink, with its fields, what was filtered out, what an expression failed on. */
export interface TransformedEvents {
  readonly events: ReadonlyArray<ExportEvent>
  readonly fields: ReadonlyMap<ExportEvent, SinkFields> | undefined
  readonly filtered: number
  readonly failed: ReadonlyArray<{ readonly event: ExportEvent; readonly reason: string }>
}

/** A page after the transform step. */
interface Transformed extends TransformedEvents {
  readonly page: SourcePage
}

interface Written {
  readonly page: Transformed
  readonly result: WriteResult
}

/**
 * Sorts events by what `apply` (a transform's, or a replay's choice between `apply` and `mapOnly`) made of
 * them. Shared by the engine and the dead-letter replay, so both treat an outcome alike.
 */
export const transformEvents = (events: ReadonlyArray<ExportEvent>, apply: (event: ExportEvent) => TransformOutcome): TransformedEvents => {
  const kept: Array<ExportEvent> = []
  const fields = new Map<ExportEvent, SinkFields>()
  const failed: Array<{ event: ExportEvent; reason: string }> = []
  let filtered = 0
  for (const event of events) {
    const outcome = apply(event)
    if (outcome._tag === "Keep") {
      kept.push(outcome.event)
      if (outcome.fields !== undefined) fields.set(outcome.event, outcome.fields)
    } else if (outcome._tag === "Filtered") filtered += 1
    else failed.push({ event, reason: outcome.reason })
  }
  return { events: kept, fields: fields.size === 0 ? undefined : fields, filtered, failed }
}

/** The batch a sink gets for transformed events: their mapped fields looked up per event. */
export const sinkBatch = (transformed: Pick<TransformedEvents, "events" | "fields">, sequence: number): SinkBatch => {
  const fields = transformed.fields
  return { events: transformed.events, sequence, ...(fields === undefined ? {} : { fields: (event: ExportEvent) => fields.get(event) }) }
}

/** Applies the transform step to a page (the identity without one). */
/** A page as the engine reads it: the source's, enriched, with the flag evaluations enrichment could not complete. */
type ReadPage = SourcePage & { readonly unenriched?: number }

/** Enrichment leaves `variationName` unset only where it knew neither the flag nor the variation (it falls back to the value). */
const unenrichedIn = (events: ReadonlyArray<ExportEvent>): number => {
  let n = 0
  for (const event of events) if (event.event === "FlagValue" && event.variationName === undefined) n += 1
  return n
}

export const transformPage = (page: SourcePage, transform: EventTransform | undefined): Transformed =>
  transform === undefined ? { page, events: page.events, fields: undefined, filtered: 0, failed: [] } : { page, ...transformEvents(page.events, transform.apply) }

/**
 * Runs one pipeline: read pages from the source after the committed cursor, write each to the sink with
 * retries, dead-letter what cannot be exported, and commit the cursor only once the sink has acknowledged
 * the page. With several batches in flight, acknowledgements are applied in cursor order, so the committed
 * cursor never passes a batch that has not been acknowledged.
 */
export const run = (
  options: PipelineOptions
): Effect.Effect<PipelineSummary, PipelineError, CheckpointStore | DeadLetterStore> =>
  Effect.gen(function* () {
    const checkpoints = yield* CheckpointStore
    const deadLetters = yield* DeadLetterStore
    const progress = options.progress ?? new PipelineProgress(options.name)
    const failWith = (reason: SourceError | SinkError | CheckpointError | DeadLetterError | DeadLetterLimitError) =>
      new PipelineError({ pipeline: options.name, reason })
    const recent = deadLetterWindow(options.deadLetterLimit)
    const sinkConcurrency = Math.max(1, Math.min(options.inFlight, options.sink.maxInFlight ?? options.inFlight))

    let committed: Checkpoint | undefined = Option.getOrUndefined(
      yield* (checkpoints.claim ?? checkpoints.load)(options.name).pipe(Effect.mapError(failWith))
    )
    if (committed !== undefined) yield* checkSelection(options, committed)
    progress.cursor = committed?.cursor
    let sequence = 0
    const onPass = (info: PassInfo) => {
      progress.storeTime = info.storeTime
      progress.horizon = info.horizon
    }

    const stopRequested = options.stop === undefined ? Effect.succeed(false) : Deferred.isDone(options.stop)

    const noteRetry = (error: SourceError | SinkError) =>
      Effect.suspend(() => {
        if (!error.retryable) return Effect.void
        progress.retries += 1
        progress.lastRetry = `${error.plugin}: ${error.message}`
        progress.observer.failed?.(error._tag === "SinkError" && error.retryAfter !== undefined ? "throttled" : "transient")
        return Effect.logWarning(`${error._tag === "SourceError" ? "source" : "sink"} ${error.plugin}: ${error.message}; retrying`)
      })

    /** The retry policy, telling of each retry it grants (and only of those: the last failure is no retry). */
    const retrying = <E extends SourceError | SinkError>() =>
      retrySchedule<E>(options.retry).pipe(
        Schedule.onDecision((error: E, decision) =>
          ScheduleDecision.isContinue(decision)
            ? noteRetry(error)
            : Effect.sync(() => void (error.retryable || progress.observer.failed?.("fatal")))
        )
      )

    /**
     * Retries a write as `retrying` says, until a stop is requested: then the wait before the next attempt is
     * cut short and the batch fails as it is (it is not committed, so it is delivered again next time). The
     * attempt in flight is never interrupted; the sink's own deadline (`requestTimeout`) bounds it.
     */
    const retryUntilStopped = <A>(attempt: Effect.Effect<A, SinkError>): Effect.Effect<A, SinkError> =>
      Effect.gen(function* () {
        const driver = yield* Schedule.driver(retrying<SinkError>())
        while (true) {
          const exit = yield* Effect.exit(attempt)
          if (Exit.isSuccess(exit)) return exit.value
          const failure = Cause.failureOption(exit.cause)
          if (Option.isNone(failure)) return yield* Effect.failCause(exit.cause)
          if (yield* stopRequested) return yield* Effect.fail(failure.value)
          const next = yield* Effect.raceFirst(
            Effect.option(driver.next(failure.value)).pipe(Effect.map((more) => (Option.isSome(more) ? "again" : "done"))),
            options.stop === undefined ? Effect.never : Deferred.await(options.stop).pipe(Effect.as("stopped" as const))
          )
          if (next !== "again") return yield* Effect.fail(next === "done" ? givenUp(failure.value) : failure.value)
        }
      })

    /**
     * A passing failure that outlived the retries: its message says so, so that the last line a person reads
     * is not one that promises another attempt.
     */
    const givenUp = <E extends SourceError | SinkError>(error: E): E =>
      (error.retryable
        ? new (error.constructor as new (fields: object) => E)({
            ...error,
            message: `${error.message}; gave up: the retries are used up (retry.maxRetries is ${options.retry.maxRetries})`
          })
        : error)

    // Pages read ahead and not yet taken by the writer, to tell a read's own time from a wait for room.
    let readAhead = 0

    /**
     * Pages after the committed cursor; a transient read failure resumes after the last page read. Tells the
     * observer how long each page took to read: the time since the previous one, counted only when the
     * read-ahead buffer had room for that one (otherwise the time includes waiting for the writer).
     */
    const pages = (): Stream.Stream<ReadPage, SourceError> => {
      let lastRead = { cursor: committed?.cursor, state: committed?.state }
      let lastAt = 0
      let hadRoom = true
      return Stream.suspend(() => {
        // Each pass (and each retry of a read) starts the clock again.
        lastAt = performance.now()
        hadRoom = true
        readAhead = 0
        const read = options.source.read(lastRead.cursor, { pageSize: options.batchSize, state: lastRead.state, onPass })
        // Inside the read: a page whose enrichment failed is not taken as read, so a retry reads it again.
        const enrich = options.enrich
        return enrich === undefined
          ? read
          : read.pipe(Stream.mapEffect((page) => Effect.map(enrich.enrich(page.events), (events): ReadPage => ({ ...page, events, unenriched: unenrichedIn(events) }))))
      }).pipe(
        Stream.tap((page) =>
          Effect.sync(() => {
            const now = performance.now()
            if (hadRoom) progress.observer.read?.((now - lastAt) / 1000)
            lastAt = now
            hadRoom = ++readAhead < sinkConcurrency
            lastRead = { cursor: page.cursor, state: page.state }
          })
        ),
        Stream.retry(retrying<SourceError>()),
        Stream.mapError(givenUp)
      )
    }

    const write = (page: Transformed): Effect.Effect<Written, SinkError> =>
      page.events.length === 0
        ? Effect.succeed({ page, result: accepted })
        : Effect.acquireUseRelease(
            Effect.sync(() => void (progress.writing += 1)),
            () =>
              Effect.suspend(() => {
                const started = performance.now()
                return retryUntilStopped(options.sink.write(sinkBatch(page, sequence++))).pipe(
                  Effect.tap(() => Effect.sync(() => progress.observer.written?.((performance.now() - started) / 1000))),
                  Effect.map((result) => ({ page, result }))
                )
              }),
            () => Effect.sync(() => void (progress.writing -= 1))
          )

    const commit = ({ page: transformed, result }: Written): Effect.Effect<void, DeadLetterError | CheckpointError | DeadLetterLimitError> =>
      Effect.gen(function* () {
        const page = transformed.page
        const at = new Date().toISOString()
        const letters: Array<DeadLetter> = []
        for (const rejection of page.rejected) {
          letters.push({ at, pipeline: options.name, stage: "source", plugin: options.sourceType, id: rejection.id, reason: rejection.reason, row: rejection.raw })
        }
        for (const failure of transformed.failed) {
          letters.push({ at, pipeline: options.name, stage: "transform", plugin: "transform", id: failure.event.id, reason: failure.reason, event: failure.event })
        }
        for (const rejected of result.rejected) {
          letters.push({ at, pipeline: options.name, stage: "sink", plugin: options.sinkType, id: rejected.event.id, reason: rejected.reason, event: rejected.event })
        }
        const overLimit = recent?.add(page.events.length + page.rejected.length, letters)
        if (overLimit !== undefined) return yield* Effect.fail(overLimit)
        yield* deadLetters.append(options.name, letters)
        const exported = transformed.events.length - result.rejected.length
        const filtered = transformed.filtered
        const unenriched = (page as ReadPage).unenriched ?? 0
        const late = page.late ?? 0
        const missed = page.missed ?? 0
        const next: Checkpoint = {
          version: CHECKPOINT_VERSION,
          pipeline: options.name,
          cursor: page.cursor,
          ...(page.state === undefined ? {} : { state: page.state }),
          ...(options.source.selection === undefined ? {} : { selection: options.source.selection }),
          committedAt: at,
          exported: (committed?.exported ?? 0) + exported,
          deadLettered: (committed?.deadLettered ?? 0) + letters.length,
          late: (committed?.late ?? 0) + late,
          missed: (committed?.missed ?? 0) + missed,
          ...(filtered === 0 && committed?.filtered === undefined ? {} : { filtered: (committed?.filtered ?? 0) + filtered }),
          ...(unenriched === 0 && committed?.unenriched === undefined ? {} : { unenriched: (committed?.unenriched ?? 0) + unenriched })
        }
        yield* checkpoints.save(next)
        committed = next
        progress.cursor = next.cursor
        progress.exported += exported
        progress.deadLettered += letters.length
        progress.deadLetteredBy.source += page.rejected.length
        progress.deadLetteredBy.transform += transformed.failed.length
        progress.deadLetteredBy.sink += result.rejected.length
        progress.filtered += filtered
        progress.unenriched += unenriched
        progress.late += late
        progress.missed += missed
        // A page of the source's own bookkeeping (no rows) is committed, but it is no batch.
        if (page.events.length + page.rejected.length > 0) progress.batches += 1
        progress.lastRetry = undefined
      })

    /** Reads until the source has caught up (or a stop is requested) and commits everything acknowledged. */
    const catchUp: Effect.Effect<void, PipelineError> = pages().pipe(
      Stream.mapError(failWith),
      // A stop ends reading: a read in progress is interrupted, and a page read before the stop (waiting for
      // room in the buffer) is the last one taken.
      (s) => (options.stop === undefined ? s : s.pipe(Stream.interruptWhen(Deferred.await(options.stop)), Stream.takeUntilEffect(() => Deferred.isDone(options.stop!)))),
      // Read ahead while batches are being written, bounded so memory follows the page size.
      Stream.buffer({ capacity: sinkConcurrency }),
      Stream.tap(() => Effect.sync(() => void (readAhead -= 1))),
      Stream.map((page) => transformPage(page, options.transform)),
      // A page read ahead before a stop is not written: checking just before each write keeps shutdown to
      // the batches already at the sink, and ordered results keep the committed cursor a contiguous prefix.
      Stream.mapEffect(
        (page) =>
          Effect.flatMap(stopRequested, (stopped) =>
            stopped
              ? Effect.succeed(undefined)
              : Effect.exit(write(page)).pipe(
                  // A batch that failed while the pipeline stops is left for next time, not a failure of the run.
                  Effect.flatMap(
                    (exit): Effect.Effect<Exit.Exit<Written, SinkError> | undefined> =>
                      Exit.isFailure(exit) ? Effect.map(stopRequested, (now) => (now ? undefined : exit)) : Effect.succeed(exit)
                  )
                )
          ),
        { concurrency: sinkConcurrency }
      ),
      Stream.takeWhile((exit) => exit !== undefined),
      Stream.runForEach((exit) =>
        Exit.isSuccess(exit) ? commit(exit.value).pipe(Effect.mapError(failWith)) : Effect.failCause(exit.cause).pipe(Effect.mapError(failWith))
      )
    )

    const waitForNextPoll: Effect.Effect<void> =
      options.stop === undefined
        ? Effect.sleep(options.pollInterval)
        : Effect.raceFirst(Effect.sleep(options.pollInterval), Deferred.await(options.stop))

    yield* Effect.logDebug(`starting after ${Cursor.format(committed?.cursor)}`)
    while (true) {
      progress.state = "reading"
      yield* catchUp
      progress.caughtUpTo = progress.horizon
      if (options.mode === "once" || (yield* stopRequested)) break
      progress.state = "waiting"
      yield* waitForNextPoll
      if (yield* stopRequested) break
    }
    progress.state = "stopped"
    return {
      pipeline: options.name,
      exported: progress.exported,
      deadLettered: progress.deadLettered,
      late: progress.late,
      missed: progress.missed,
      filtered: progress.filtered,
      unenriched: progress.unenriched,
      batches: progress.batches,
      retries: progress.retries,
      cursor: committed?.cursor,
      elapsedMs: Date.now() - progress.startedAt
    }
  }).pipe(
    Effect.tapError(() => Effect.sync(() => options.progress && (options.progress.state = "failed"))),
    // The stream's internal fibers (read-ahead, concurrent writes) end with the failure the pipeline reports
    // itself; Effect would also log each as "Fiber terminated with an unhandled error", once per retry.
    Effect.withUnhandledErrorLogLevel(Option.none()),
    Effect.annotateLogs("pipeline", options.name)
  )

/**
 * Refuses to resume a checkpoint under a selection its cursor does not fit (wider `envIds`, another table,
 * another cursor column): rows the new selection adds lie behind the cursor and would never be read.
 * Narrowing, and a moved `endAt`, are accepted with a warning.
 */
const checkSelection = (options: PipelineOptions, committed: Checkpoint): Effect.Effect<void, PipelineError> => {
  const current = options.source.selection
  if (current === undefined || committed.selection === undefined) return Effect.void
  const verdict = compareSelection(committed.selection, current)
  switch (verdict._tag) {
    case "Same":
      return Effect.void
    case "Accepted":
      return Effect.forEach(verdict.notes, (note) => Effect.logWarning(`the source's selection changed since the checkpoint: ${note}`), { discard: true })
    case "Refused":
      return Effect.fail(
        new PipelineError({
          pipeline: options.name,
          reason: SourceError.fatal(
            options.sourceType,
            `the checkpoint was committed under another selection: ${verdict.changes.join("; ")}. ` +
              `What the change adds lies behind the cursor ${Cursor.format(committed.cursor)} and would never be read. ` +
              `Set it back; or export the addition with a pipeline of its own (another name, so another checkpoint, with startAt where it should start); ` +
              `or reset this pipeline's checkpoint to export everything again (featbit-export checkpoints <file> --reset --pipeline ${options.name}; destinations dedupe on the event id)`
          )
        })
      )
  }
}

/**
 * The dead letters of the last `window` rows, batch by batch, to hold them to `max`. Returns the error to stop
 * with when a batch would pass the limit (that batch is then not counted: it is not committed either).
 */
const deadLetterWindow = (limit: DeadLetterLimit | undefined) => {
  if (limit === undefined) return undefined
  const batches: Array<{ rows: number; letters: number }> = []
  let rows = 0
  let letters = 0
  return {
    add: (batchRows: number, batchLetters: ReadonlyArray<DeadLetter>): DeadLetterLimitError | undefined => {
      if (batchRows === 0) return undefined
      // The batches older than the window drop out (the newest one always counts whole).
      while (batches.length > 0 && rows + batchRows - batches[0]!.rows >= limit.window) {
        const oldest = batches.shift()!
        rows -= oldest.rows
        letters -= oldest.letters
      }
      if (letters + batchLetters.length > limit.max) {
        const reasons = [...new Set(batchLetters.map((letter) => letter.reason))].slice(0, 3)
        return new DeadLetterLimitError({
          message:
            `${letters + batchLetters.length} of the last ${rows + batchRows} rows would be dead-lettered, more than deadLetters.max (${limit.max} per ${limit.window} rows): ` +
            `that is the destination's or the data's problem, not a few events'; the first reasons: ${reasons.map((reason) => JSON.stringify(reason.slice(0, 200))).join(", ")}. ` +
            `The batch was not committed: fix the cause and run again (or raise deadLetters.max)`
        })
      }
      batches.push({ rows: batchRows, letters: batchLetters.length })
      rows += batchRows
      letters += batchLetters.length
      return undefined
    }
  }
}
