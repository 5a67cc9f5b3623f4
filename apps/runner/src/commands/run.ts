import * as path from "node:path"
import { CheckpointStore, ConfigError as ConfigErrorClass, Cursor, DeadLetter, type ListenAddress, Pipeline, type PipelineError, PipelineProgress, parseListen } from "@featbit-export/core"
import type { CheckpointError, ConfigError, PipelineFile } from "@featbit-export/core"
import { type PostgresState, openPostgresState } from "@featbit-export/state-postgres"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import { openEnricher } from "@featbit-export/enrich-flags"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type { Args } from "../Args.js"
import { type Output, formatBehind, formatCount, showProgress } from "../Output.js"
import { runnerName } from "../cluster/RunnerName.js"
import * as PipelineLock from "../PipelineLock.js"
import { partsOf } from "../Slices.js"
import { makeMetrics } from "../service/Metrics.js"
import { serve } from "../service/Server.js"
import { loadFile, openSink, openSource, selectPipelines } from "../Pipelines.js"

/** Calls `onFirst` on the first SIGINT/SIGTERM and `onSecond` on the next one; removes itself when the scope closes. */
const onSignals = (onFirst: () => void, onSecond: () => void) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      let count = 0
      const handler = () => (++count === 1 ? onFirst() : onSecond())
      process.on("SIGINT", handler)
      process.on("SIGTERM", handler)
      return handler
    }),
    (handler) =>
      Effect.sync(() => {
        process.off("SIGINT", handler)
        process.off("SIGTERM", handler)
      })
  )

const seconds = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1)

/** `--listen`, else the file's `server.listen`, else none: the endpoint is off unless asked for. */
const listenAddress = (args: Args, file: PipelineFile.PipelineFile): Effect.Effect<ListenAddress | undefined, ConfigError> => {
  if (args.listen === undefined) return Effect.succeed(file.server?.listen)
  const parsed = parseListen(args.listen)
  return Either.isRight(parsed)
    ? Effect.succeed(parsed.right)
    : Effect.fail(new ConfigErrorClass({ file: "command line", issues: [{ path: [], message: `--listen: ${parsed.left}` }] }))
}

type RunError = PipelineError | PipelineLock.PipelineLockError | PipelineLock.PipelineLockLost | { readonly _tag: "OpenError"; readonly retryable: boolean; readonly message: string }

/**
 * Whether a pipeline that failed so may work again by itself: a source or sink that was away, not a mistake.
 * With a shared state, a state database that was away too; and in a cluster, a pipeline another runner took
 * over (fenced): the cluster gives it back or interrupts this one, and a new claim waits for the restart delay.
 */
const restartable = (error: RunError, sharing: "file" | "shared" | "cluster"): boolean => {
  switch (error._tag) {
    case "OpenError":
      return error.retryable
    case "PipelineLockError":
    case "PipelineLockLost":
      return false
    case "PipelineError": {
      const reason = error.reason
      if (reason._tag === "SourceError" || reason._tag === "SinkError") return reason.retryable
      if (reason._tag === "CheckpointError" || reason._tag === "DeadLetterError") return reason.fenced === true ? sharing === "cluster" : sharing !== "file"
      return false
    }
  }
}

/** The longest wait before a pipeline is started again. */
export const MAX_RESTART_DELAY = Duration.minutes(5)

/** The wait before the n-th restart in a row (from 0): the pipeline's retry.maxDelay, doubled each time, at most MAX_RESTART_DELAY. */
export const restartDelay = (maxDelay: Duration.Duration, n: number): Duration.Duration =>
  Duration.min(Duration.times(Duration.max(maxDelay, Duration.millis(10)), 2 ** Math.min(n, 20)), MAX_RESTART_DELAY)

/**
 * `featbit-export run`: runs the selected pipelines side by side until each has caught up (`--once`) or
 * until a signal. A first SIGINT/SIGTERM stops reading and lets batches in flight finish and commit; a
 * second abandons them (they will be delivered again next time). When one pipeline fails, the others are
 * stopped the same graceful way, and the exit code is 1.
 */
export const runCommand = (args: Args, registry: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const file = yield* loadFile(args, registry)
    const selected = yield* selectPipelines(file, args.pipelines)
    const stop = yield* Deferred.make<void>()
    const abandon = yield* Deferred.make<void>()
    yield* onSignals(
      () => {
        output.report("stopping: finishing the batches in flight (press Ctrl-C again to abandon them)", { message: "stopping" })
        Deferred.unsafeDone(stop, Effect.void)
      },
      () => Deferred.unsafeDone(abandon, Effect.void)
    )

    // A sliced backfill runs as its parts (each slice, and the live export), reported as one pipeline.
    const parts = selected.flatMap(partsOf)
    const units = parts.map((part) => part.config)
    const progresses = parts.map((part) => new PipelineProgress(part.pipeline, part.part))
    // Runners sharing a state: nothing runs here until the cluster gives it to this runner.
    if (file.sharedState !== undefined && !args.once) for (const progress of progresses) progress.state = "elsewhere"
    const listen = yield* listenAddress(args, file)
    if (listen !== undefined) {
      const bound = yield* serve(listen, progresses, makeMetrics(progresses), output.scrubber)
      const url = `http://${bound.family === "IPv6" ? `[${bound.address}]` : bound.address}:${bound.port}`
      output.report(`serving /metrics, /healthz, /readyz and /status on ${url}`, { message: "listening", url })
    }
    const progressFiber = yield* Effect.fork(showProgress(output, progresses))

    // Several runners share a PostgreSQL state: fenced checkpoints there and, following, the pipelines as
    // cluster singletons; `--once` runs every selected pipeline here, fenced.
    const runner = runnerName(file.cluster)
    const opened = file.sharedState === undefined ? undefined : yield* Effect.either(openPostgresState(file.sharedState, { owner: runner, scrubber: output.scrubber }))
    if (opened !== undefined && Either.isLeft(opened)) {
      output.report(`featbit-export: ${opened.left.message}`, { level: "error", message: opened.left.message })
      return 1
    }
    const state = opened?.right
    const sharing = state === undefined ? "file" : args.once ? "shared" : "cluster"

    /**
     * Each pipeline as a cluster singleton: `body` runs here while this runner holds the pipeline's shard,
     * and is interrupted when the shard moves (the batches in flight are delivered again by the next
     * owner). Returns, after a stop, each pipeline's last result here (undefined: it ran elsewhere).
     */
    const runClustered = <A>(
      pipelines: ReadonlyArray<PipelineFile.PipelineConfig>,
      states: ReadonlyArray<PipelineProgress>,
      body: (pipeline: PipelineFile.PipelineConfig, progress: PipelineProgress) => Effect.Effect<A>
    ): Effect.Effect<ReadonlyArray<A | undefined>> =>
      Effect.gen(function* () {
        const last = new Map<string, A>()
        let running = 0
        for (const progress of states) progress.state = "elsewhere"
        const { runAsSingletons } = yield* Effect.promise(() => import("../cluster/Singletons.js"))
        yield* runAsSingletons({
          state: file.sharedState!,
          cluster: file.cluster!,
          runner,
          pipelines: pipelines.map((pipeline, i) => ({
            name: pipeline.name,
            body: Effect.suspend(() => {
              running += 1
              return body(pipeline, states[i]!)
            }).pipe(
              Effect.tap((result) => Effect.sync(() => last.set(pipeline.name, result))),
              Effect.onInterrupt(() => Effect.sync(() => void (states[i]!.state = "elsewhere"))),
              Effect.ensuring(Effect.sync(() => void (running -= 1))),
              Effect.asVoid
            )
          }))
        })
        output.report(`runner ${runner} joined the runners sharing ${state!.where}`, { message: "joined", runner })
        // What this runner can say of the pipelines the others run: who claimed them and where they are.
        yield* Effect.forkScoped(
          state!.claims.pipe(
            Effect.tap((claims) =>
              Effect.sync(() => {
                for (const [i, progress] of states.entries()) {
                  const claim = claims.get(pipelines[i]!.name)
                  if (claim === undefined) continue
                  progress.claimedBy = { runner: claim.owner, epoch: claim.epoch }
                  if (progress.state === "elsewhere") progress.cursor = claim.cursor
                }
              })
            ),
            Effect.catchAll(() => Effect.void),
            Effect.repeat(Schedule.spaced(file.cluster!.assignInterval))
          )
        )
        yield* Deferred.await(stop)
        // Pipelines here finish their batches in flight and commit; then the runner leaves (its shards move).
        while (running > 0) yield* Effect.sleep(Duration.millis(50))
        return pipelines.map((pipeline) => last.get(pipeline.name))
      }).pipe(
        Effect.scoped,
        Effect.catchAll((error: CheckpointError) =>
          Effect.sync(() => {
            joinFailed = true
            output.report(`featbit-export: ${error.message}`, { level: "error", message: error.message })
            return pipelines.map(() => undefined)
          })
        )
      )
    let joinFailed = false

    const runOne = (pipeline: PipelineFile.PipelineConfig, progress: PipelineProgress) =>
      Effect.gen(function* () {
        // Before anything is opened: a second runner must not even repair the sink's file under the first.
        // A shared state needs no file lock: its checkpoints are fenced, and the cluster places the pipeline.
        const lock = sharing === "file" ? yield* PipelineLock.hold(file.stateDir, pipeline.name) : undefined
        const exporting = Effect.gen(function* () {
          const source = yield* openSource(file, pipeline, registry)
          const sink = yield* openSink(file, pipeline, registry)
          const enrich = pipeline.enrich === undefined ? undefined : yield* openEnricher(pipeline.enrich)
          return yield* Pipeline.run({
            name: pipeline.name,
            source,
            sink,
            sourceType: pipeline.source.type,
            sinkType: pipeline.sink.type,
            batchSize: pipeline.batch.size,
            inFlight: pipeline.batch.inFlight,
            retry: pipeline.retry,
            deadLetterLimit: pipeline.deadLetters,
            mode: args.once ? "once" : pipeline.mode,
            pollInterval: pipeline.pollInterval,
            stop,
            progress,
            enrich,
            transform: pipeline.transformStep
          })
        })
        // A runner that lost its lock (another took it over) is interrupted where it is: what it has not
        // committed yet is the new holder's to deliver.
        return yield* lock === undefined ? exporting : Effect.raceFirst(exporting, lock.lost)
      }).pipe(
        Effect.scoped,
        Effect.mapError((error): RunError =>
          error._tag === "PipelineError" || error._tag === "PipelineLockError" || error._tag === "PipelineLockLost"
            ? error
            : {
                _tag: "OpenError",
                retryable: error.retryable,
                message: `pipeline ${pipeline.name}: cannot start its ${error._tag === "SourceError" ? "source" : "sink"} ${error.plugin}: ${error.message}`
              }
        ),
        Effect.either
      )

    /**
     * Runs a pipeline, and in follow mode restarts it after a passing failure that outlived its retries (a
     * database down for an hour), waiting longer each time. A failure a person must fix stops this pipeline
     * alone; the others go on. `--once` and `--fail-fast` stop every pipeline at the first failure.
     */
    const supervise = (pipeline: PipelineFile.PipelineConfig, progress: PipelineProgress) =>
      Effect.gen(function* () {
        const following = !args.once && pipeline.mode === "follow"
        let quickRestarts = 0
        while (true) {
          const batchesBefore = progress.batches
          const result = yield* runOne(pipeline, progress)
          if (Either.isRight(result)) return result
          const error = result.left
          progress.lastError = { message: error.message, at: Date.now() }
          if (!following || args.failFast || !restartable(error, sharing) || (yield* Deferred.isDone(stop))) {
            progress.state = "failed"
            if (!following || args.failFast) yield* Deferred.succeed(stop, undefined)
            else yield* Effect.logError(`${error.message}; this pipeline is stopped, the others go on`)
            return result
          }
          // A run that committed something was healthy for a while: start the backoff over.
          if (progress.batches > batchesBefore) quickRestarts = 0
          const wait = restartDelay(pipeline.retry.maxDelay, quickRestarts++)
          progress.restarts += 1
          progress.state = "restarting"
          yield* Effect.logWarning(`${error.message}; restarting in ${Duration.format(wait)} (restart ${progress.restarts})`)
          const stopped = yield* Effect.raceFirst(Effect.sleep(wait).pipe(Effect.as(false)), Deferred.await(stop).pipe(Effect.as(true)))
          if (stopped) {
            progress.state = "failed"
            return result
          }
        }
      })

    const stores = state === undefined ? Layer.merge(CheckpointStore.layerFile(file.stateDir), DeadLetter.layerFile(file.stateDir)) : sharedStores(state)
    const results = yield* (sharing === "cluster"
      ? runClustered(units, progresses, (pipeline, progress) => supervise(pipeline, progress).pipe(Effect.provide(stores)))
      : Effect.forEach(units, (pipeline, i) => supervise(pipeline, progresses[i]!), { concurrency: "unbounded" }).pipe(Effect.provide(stores))
    ).pipe(Effect.raceFirst(Deferred.await(abandon).pipe(Effect.as(undefined))))
    yield* Fiber.interrupt(progressFiber)

    if (results === undefined) {
      output.report("stopped: batches in flight were abandoned; they will be delivered again on the next run", { message: "abandoned" })
      return 1
    }
    let failed = false
    results.forEach((result, i) => {
      const progress = progresses[i]!
      // In a cluster: a pipeline another runner ran all along.
      if (result === undefined) return
      if (Either.isLeft(result)) {
        failed = true
        output.report(`featbit-export: ${result.left.message}`, { level: "error", pipeline: progress.pipeline, message: result.left.message, exported: progress.exported, deadLettered: progress.deadLettered })
        return
      }
      const summary = result.right
      const rate = (summary.exported * 1000) / Math.max(1, summary.elapsedMs)
      const letters =
        summary.deadLettered === 0
          ? ""
          : ` (see ${state === undefined ? path.relative(process.cwd(), DeadLetter.deadLetterFile(file.stateDir, summary.pipeline)) : `${state.letters(summary.pipeline).where}, or featbit-export dead-letters`})`
      const late = summary.late === 0 ? "" : `, ${formatCount(summary.late)} of them late (they landed behind the cursor)`
      const missed = summary.missed === 0 ? "" : `; ${formatCount(summary.missed)} landed too late to export (see the warnings above)`
      const filtered = summary.filtered === 0 ? "" : `, filtered out ${formatCount(summary.filtered)}`
      const unenriched =
        summary.unenriched === 0 ? "" : `; ${formatCount(summary.unenriched)} flag evaluations of flags FeatBit no longer knows went out without flagName and the variation's name and value`
      const behind = progress.secondsBehind()
      output.report(
        `${summary.pipeline}: exported ${formatCount(summary.exported)} events${late}, dead-lettered ${formatCount(summary.deadLettered)}${letters}${filtered}${missed}${unenriched}, in ${seconds(summary.elapsedMs)} s (${formatCount(rate)} events/s); cursor ${Cursor.format(summary.cursor)}` +
          (progress.horizon === undefined ? "" : `, read up to ${progress.horizon}${behind === undefined ? "" : ` (${formatBehind(behind)} behind the store's clock)`}`),
        {
          pipeline: summary.pipeline,
          message: "done",
          exported: summary.exported,
          deadLettered: summary.deadLettered,
          late: summary.late,
          missed: summary.missed,
          filtered: summary.filtered,
          unenriched: summary.unenriched,
          batches: summary.batches,
          retries: summary.retries,
          elapsedMs: summary.elapsedMs,
          eventsPerSecond: Math.round(rate),
          cursor: summary.cursor ?? null,
          horizon: progress.horizon ?? null,
          secondsBehind: behind === undefined ? null : Math.round(behind * 10) / 10
        }
      )
    })
    return failed || joinFailed ? 1 : 0
  }).pipe(Effect.scoped)

export const pollDescription = (pipeline: PipelineFile.PipelineConfig): string =>
  pipeline.mode === "once" ? "once" : `follow, polling every ${Duration.format(pipeline.pollInterval)}`

/** The engine's two stores on a shared state. */
const sharedStores = (state: PostgresState) =>
  Layer.merge(Layer.succeed(CheckpointStore.CheckpointStore, state.checkpoints), Layer.succeed(DeadLetter.DeadLetterStore, state.deadLetters))
