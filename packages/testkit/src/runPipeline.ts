import { CheckpointStore, DeadLetter, type FeatBitRow, Pipeline, type RetryPolicy, type Sink, type Source } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { expect } from "vitest"
import { makeMemorySource } from "./MemorySource.js"

/** A retry policy with tiny waits, so tests of retries take milliseconds. */
export const fastRetry: RetryPolicy = { initialDelay: Duration.millis(1), maxDelay: Duration.millis(5), maxRetries: 5 }

/** The stores a test pipeline commits into, kept in memory and open to inspection. */
export interface TestStores {
  readonly checkpoints: Map<string, CheckpointStore.Checkpoint>
  /** Every checkpoint saved, in order. */
  readonly saves: Array<CheckpointStore.Checkpoint>
  readonly deadLetters: Array<DeadLetter.DeadLetter>
  readonly layer: Layer.Layer<CheckpointStore.CheckpointStore | DeadLetter.DeadLetterStore>
}

export const makeTestStores = (): TestStores => {
  const checkpoints = new Map<string, CheckpointStore.Checkpoint>()
  const saves: Array<CheckpointStore.Checkpoint> = []
  const deadLetters: Array<DeadLetter.DeadLetter> = []
  const memory = CheckpointStore.makeMemory(checkpoints)
  const recording = {
    ...memory,
    save: (checkpoint: CheckpointStore.Checkpoint) => memory.save(checkpoint).pipe(Effect.tap(() => Effect.sync(() => void saves.push(checkpoint))))
  }
  return {
    checkpoints,
    saves,
    deadLetters,
    layer: Layer.merge(Layer.succeed(CheckpointStore.CheckpointStore, recording), DeadLetter.layerMemory(deadLetters))
  }
}

/** A test pipeline's options: named "test", small batches, tiny retry waits; `overrides` win. */
export const testPipelineOptions = (source: Source, sink: Sink, overrides: Partial<Pipeline.PipelineOptions> = {}): Pipeline.PipelineOptions => ({
  name: "test",
  source,
  sink,
  sourceType: "test-source",
  sinkType: "test-sink",
  batchSize: 100,
  inFlight: 4,
  retry: fastRetry,
  mode: "once",
  pollInterval: Duration.millis(10),
  ...overrides
})

/** Runs a pipeline once (catch up and return) with test defaults; override anything. */
export const runOnce = (
  source: Source,
  sink: Sink,
  stores: TestStores,
  options: Partial<Pipeline.PipelineOptions> = {}
): Effect.Effect<Pipeline.PipelineSummary, import("@featbit-export/core").PipelineError> =>
  Pipeline.run(testPipelineOptions(source, sink, options)).pipe(Effect.provide(stores.layer))

/**
 * The faulted-export tests of the HTTP sinks: `rows` from memory into `sink` in batches of 2,000, retried up
 * to 40 times 1-5 ms apart (the faults are the receiver's, the waits only slow the test), checked to have
 * exported every row with no dead letter. `label` (the fault seed) names a failing run.
 */
export const exportThroughFaults = (
  rows: ReadonlyArray<FeatBitRow>,
  sink: Sink,
  label: string
): Effect.Effect<Pipeline.PipelineSummary, import("@featbit-export/core").PipelineError> =>
  Effect.gen(function* () {
    const stores = makeTestStores()
    const summary = yield* runOnce(makeMemorySource(rows), sink, stores, {
      batchSize: 2_000,
      retry: { initialDelay: Duration.millis(1), maxDelay: Duration.millis(5), maxRetries: 40 }
    })
    expect(summary.exported, label).toBe(rows.length)
    expect(stores.deadLetters, label).toEqual([])
    return summary
  })
