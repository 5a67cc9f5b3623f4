import { it } from "@effect/vitest"
import {
  CheckpointStore,
  DeadLetter,
  type ExportEvent,
  Pipeline,
  SinkError,
  type Source,
  Timestamp,
  accepted,
  defaultRetryPolicy
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { describe, expect } from "vitest"
import { generateRows, makeGenerateSource } from "../src/index.js"

describe("the generate source in core's pipeline engine", () => {
  it.effect("exports every row exactly once across a failed run and a resumed one", () =>
    Effect.gen(function* () {
      const config = { count: 1000, seed: 31, tieBurst: 300, malformedEvery: 50 }
      const rows = [...generateRows(config)]
      const checkpoints = new Map<string, CheckpointStore.Checkpoint>()
      const letters: Array<DeadLetter.DeadLetter> = []
      const layer = Layer.merge(CheckpointStore.layerMemory(checkpoints), DeadLetter.layerMemory(letters))
      const delivered: Array<ExportEvent> = []
      let writes = 0
      const run = (failOnWrite: number | undefined) =>
        Pipeline.run({
          name: "gen",
          source: makeGenerateSource(config),
          sink: {
            write: (batch) =>
              Effect.suspend(() => {
                writes++
                if (writes === failOnWrite) return Effect.fail(SinkError.fatal("test", "destination gone"))
                delivered.push(...batch.events)
                return Effect.succeed(accepted)
              })
          },
          sourceType: "generate",
          sinkType: "test",
          batchSize: 128,
          inFlight: 1,
          retry: defaultRetryPolicy,
          mode: "once",
          pollInterval: "1 second"
        }).pipe(Effect.provide(layer))

      // The second page ends inside the 300-row tie burst; the run dies on the third.
      const failed = yield* Effect.flip(run(3))
      expect(failed._tag).toBe("PipelineError")
      expect(checkpoints.get("gen")!.cursor).toEqual({ timestamp: rows[255]!.timestamp, id: rows[255]!.id })
      expect(rows[256]!.timestamp).toBe(rows[255]!.timestamp)
      const summary = yield* run(undefined)
      expect(summary.cursor).toEqual({ timestamp: rows[999]!.timestamp, id: rows[999]!.id })

      const malformed = new Set(rows.filter((_, i) => (i + 1) % 50 === 0).map((row) => row.id))
      expect(delivered.map((event) => event.id)).toEqual(rows.filter((row) => !malformed.has(row.id)).map((row) => row.id))
      expect(new Set(letters.map((letter) => letter.id))).toEqual(malformed)
      expect(letters).toHaveLength(malformed.size)
    }))

  it.effect("exports a live source's events as they fall due, each once, across runs", () =>
    Effect.gen(function* () {
      const startMs = Date.parse("2024-06-01T00:00:00.000Z")
      let now = startMs + 2_000
      const config = { seed: 32, rate: 1500, start: Timestamp.fromMillis(startMs), now: () => now }
      const source = makeGenerateSource(config)
      const checkpoints = new Map<string, CheckpointStore.Checkpoint>()
      const layer = Layer.merge(CheckpointStore.layerMemory(checkpoints), DeadLetter.layerMemory([]))
      const delivered: Array<ExportEvent> = []
      const runOnce = (live: Source) =>
        Pipeline.run({
          name: "live",
          source: live,
          sink: { write: (batch) => Effect.sync(() => void delivered.push(...batch.events)).pipe(Effect.as(accepted)) },
          sourceType: "generate",
          sinkType: "test",
          batchSize: 500,
          inFlight: 2,
          retry: defaultRetryPolicy,
          mode: "once",
          pollInterval: "1 second"
        }).pipe(Effect.provide(layer))

      yield* runOnce(source)
      // 1500 a second: row i is at floor(i * 2 / 3) ms, so rows 0..3001 are due at 2000 ms.
      expect(delivered).toHaveLength(3002)
      now = startMs + 3_500
      yield* runOnce(source)
      // And rows 0..5251 at 3500 ms.
      const expected = [...generateRows({ ...config, count: 5252 })]
      expect(delivered.map((event) => event.id)).toEqual(expected.map((row) => row.id))
    }))
})