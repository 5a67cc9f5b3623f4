import type { PipelineError, Sink, Source } from "@featbit-export/core"
import { Pipeline } from "@featbit-export/core"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { type TestStores, testPipelineOptions } from "./runPipeline.js"

export interface FollowOptions extends Partial<Pipeline.PipelineOptions> {
  /** Checked every 50 ms; the pipeline is stopped (gracefully) once it holds. */
  readonly until: () => boolean
  /** Stops the pipeline after this long even when `until` never held (`timedOut` then says so). */
  readonly timeoutMs: number
}

export interface FollowResult {
  readonly summary: Pipeline.PipelineSummary
  readonly timedOut: boolean
}

/**
 * Runs a pipeline in follow mode, as `featbit-export run` does, until `until()` holds or the time is up,
 * then asks it to stop the way SIGTERM does and returns its summary.
 */
export const runFollowing = (source: Source, sink: Sink, stores: TestStores, options: FollowOptions): Effect.Effect<FollowResult, PipelineError> =>
  Effect.gen(function* () {
    const stop = yield* Deferred.make<void>()
    const { until, timeoutMs, ...overrides } = options
    const fiber = yield* Effect.fork(
      Pipeline.run(testPipelineOptions(source, sink, { mode: "follow", pollInterval: Duration.millis(100), ...overrides, stop })).pipe(Effect.provide(stores.layer))
    )
    const deadline = Date.now() + timeoutMs
    let timedOut = false
    while (!until()) {
      if (Date.now() > deadline) {
        timedOut = true
        break
      }
      const done = yield* Fiber.poll(fiber)
      if (done._tag === "Some") break
      yield* Effect.sleep(Duration.millis(50))
    }
    yield* Deferred.succeed(stop, undefined)
    const summary = yield* Fiber.join(fiber)
    return { summary, timedOut }
  })
