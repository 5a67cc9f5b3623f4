import { DeadLetter, type DeadLetterError, type ExportEvent, Pipeline, type PipelineFile, type Secrets, SinkError, type TransformOutcome, retrySchedule } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import type * as Scope from "effect/Scope"
import { type Entry, replayableEvent } from "./DeadLetterFile.js"
import * as PipelineLock from "./PipelineLock.js"
import { openSink } from "./Pipelines.js"
import type { Letters } from "./State.js"

/** What a replay did so far; kept up to date batch by batch, so a failure can still say it. */
export interface ReplayTally {
  /** Distinct events sent again. */
  sent: number
  delivered: number
  /** Refused again: kept, with the new reason. */
  refused: number
  /** Transform-stage letters the pipeline's (fixed) filter now leaves out: removed, as a run would skip them. */
  filtered: number
  /** Transform-stage letters an expression still fails on: kept, with the new reason. */
  failed: number
  /** Lines a replay does not touch: source-stage letters, unreadable lines, sink letters without a usable event. */
  untouched: number
}

export const emptyTally = (): ReplayTally => ({ sent: 0, delivered: 0, refused: 0, filtered: 0, failed: 0, untouched: 0 })

/** A line of the file and, when it is a sink rejection that can be sent again, its event's id. */
interface Pending {
  readonly entry: Entry
  readonly id: string | undefined
}

/**
 * Sends a pipeline's sink-stage dead letters through its configured sink again, in batches of `batch.size`,
 * one batch at a time. After each batch the sink acknowledged, the file is replaced atomically with what is
 * left: the letters it delivered removed, the ones it refused again rewritten with their new reason. So a
 * replay killed at any moment loses nothing: a letter leaves the file only after the sink took it (killed
 * between the two, it is sent again next time, under the same id, which destinations dedupe on).
 *
 * Holds the pipeline's lock throughout: a `run` appending to the file while it is replaced would lose what
 * it appended. The sink is opened the way `run` opens it, in the caller's scope.
 */
export const replay = (options: {
  readonly file: PipelineFile.PipelineFile
  readonly pipeline: PipelineFile.PipelineConfig
  readonly registry: PipelineFile.PluginRegistry
  readonly scrubber: Secrets.Scrubber
  readonly tally: ReplayTally
  /** Where the letters are: a file (read and replaced under the pipeline's lock) or the shared state. */
  readonly letters: Letters
  readonly shared: boolean
}): Effect.Effect<void, PipelineLock.PipelineLockError | DeadLetterError | SinkError, Scope.Scope> =>
  Effect.gen(function* () {
    const { file, pipeline, tally } = options
    // The shared state replaces only the letters it read, whatever a running pipeline appends meanwhile.
    if (!options.shared) yield* PipelineLock.hold(file.stateDir, pipeline.name)
    // Read under the lock: from now on nothing else writes the file.
    let lines: ReadonlyArray<Pending> = (yield* options.letters.read).map((entry) => ({ entry, id: replayableEvent(entry)?.id }))

    // Each event once, in file order: a batch dead-lettered, then sent again after a crash, is in the file twice.
    const events = new Map<string, ExportEvent>()
    for (const { entry, id } of lines) if (id !== undefined && !events.has(id)) events.set(id, replayableEvent(entry)!)
    tally.untouched = lines.filter((line) => line.id === undefined).length
    if (events.size === 0) return

    const sink = yield* openSink(file, pipeline, options.registry)
    const retrying = retrySchedule<SinkError>(pipeline.retry).pipe(
      Schedule.onDecision((error: SinkError, decision) =>
        ScheduleDecision.isContinue(decision) ? Effect.logWarning(`sink ${error.plugin}: ${error.message}; retrying`) : Effect.void
      )
    )
    const stages = new Map(lines.flatMap((line) => (line.id === undefined ? [] : [[line.id, line.entry.letter!.stage] as const])))
    const transform = pipeline.transformStep
    // As `run` would make it: an event an expression failed on goes through the whole (fixed) step again; one
    // the sink refused had been through it, so only its sink fields are computed again.
    const outcomeOf = (event: ExportEvent): TransformOutcome =>
      transform === undefined ? { _tag: "Keep", event } : stages.get(event.id) === "transform" ? transform.apply(event) : transform.mapOnly(event)
    const ids = [...events.keys()]
    for (let start = 0, sequence = 0; start < ids.length; start += pipeline.batch.size, sequence++) {
      const batch = ids.slice(start, start + pipeline.batch.size)
      const transformed = Pipeline.transformEvents(batch.map((id) => events.get(id)!), outcomeOf)
      const toSend = transformed.events
      const failed = new Map(transformed.failed.map(({ event, reason }) => [event.id, reason]))
      const sent = new Map(toSend.map((event) => [event.id, event]))
      const write = toSend.length === 0 ? Effect.succeed({ rejected: [] }) : sink.write(Pipeline.sinkBatch(transformed, sequence))
      const result = yield* write.pipe(
        Effect.retry(retrying),
        // As `run` says it: the last line a person reads must not promise another attempt.
        Effect.mapError((error) =>
          error.retryable
            ? new SinkError({ ...error, message: `${error.message}; gave up: the retries are used up (retry.maxRetries is ${pipeline.retry.maxRetries})` })
            : error
        )
      )
      const inBatch = new Set(batch)
      const refused = new Map(result.rejected.filter((rejected) => inBatch.has(rejected.event.id)).map((rejected) => [rejected.event.id, rejected.reason]))
      lines = lines.flatMap((line): ReadonlyArray<Pending> => {
        if (line.id === undefined || !inBatch.has(line.id)) return [line]
        const letter = line.entry.letter!
        const sinkReason = refused.get(line.id)
        const transformReason = failed.get(line.id)
        if (sinkReason === undefined && transformReason === undefined) return []
        // The letter keeps its time and id; the stage and reason are the new failure's, and a sink refusal keeps
        // the event as the sink got it (after the transform), as `run` writes it.
        const rewritten: DeadLetter.DeadLetter =
          sinkReason !== undefined
            ? { at: letter.at, pipeline: letter.pipeline, stage: "sink", plugin: pipeline.sink.type, id: letter.id ?? undefined, reason: sinkReason, event: sent.get(line.id) ?? (letter.event as ExportEvent) }
            : { at: letter.at, pipeline: letter.pipeline, stage: "transform", plugin: "transform", id: letter.id ?? undefined, reason: transformReason!, event: letter.event as ExportEvent }
        const text = DeadLetter.toLine(rewritten, options.scrubber)
        return [{ entry: { text, letter: { ...letter, stage: rewritten.stage, plugin: rewritten.plugin, reason: rewritten.reason, event: rewritten.event } }, id: line.id }]
      })
      // Only now, after the sink's acknowledgement, do the delivered letters leave the file.
      yield* options.letters.replace(lines.map((line) => line.entry))
      tally.sent += toSend.length
      tally.refused += refused.size
      tally.delivered += toSend.length - refused.size
      tally.filtered += transformed.filtered
      tally.failed += failed.size
    }
  })
