import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { events, openSink, readLines, tempDir } from "./support.js"

describe("a file deleted or replaced under the sink", () => {
  it.scoped("is noticed before the next batch is acknowledged: a fatal error that says what happened", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "out", "events.ndjson")
      const sink = yield* openSink({ path: "out/events.ndjson" }, { pipeline: "flags", baseDir: dir })
      yield* sink.write({ events: events(0, 5), sequence: 0 })
      yield* Effect.promise(() => fs.rm(file))
      const error = yield* Effect.flip(sink.write({ events: events(5, 5), sequence: 1 }))
      expect(error.retryable).toBe(false)
      expect(error.message).toBe(
        `cannot write ${file}: the file was deleted while the pipeline wrote to it; the batch was not acknowledged and nothing after the last checkpoint is lost, but what was written to it is gone: run again to go on in a new file (to keep files small, set maxBytes and let the sink rotate them)`
      )
    })
  )

  it.scoped("a file moved away and another put in its place: the batch is not acknowledged, and the moved file holds what was written", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: "events.ndjson" }, { pipeline: "flags", baseDir: dir })
      yield* sink.write({ events: events(0, 3), sequence: 0 })
      yield* Effect.promise(async () => {
        await fs.rename(file, path.join(dir, "moved.ndjson"))
        await fs.writeFile(file, "")
      })
      const error = yield* Effect.flip(sink.write({ events: events(3, 3), sequence: 1 }))
      expect(error.retryable).toBe(false)
      expect(error.message).toMatch(/another file took its place while the pipeline wrote to it/)
      // The sink's handle still wrote into the moved file: those lines are there, and in the new file nothing.
      expect(yield* readLines([path.join(dir, "moved.ndjson")])).toHaveLength(6)
      expect(yield* readLines([file])).toHaveLength(0)
    })
  )

  it.scoped("a file left alone is written batch after batch, as before", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const sink = yield* openSink({ path: "events.ndjson" }, { pipeline: "flags", baseDir: dir })
      for (let i = 0; i < 4; i++) yield* sink.write({ events: events(i * 5, 5), sequence: i })
      expect(yield* readLines([path.join(dir, "events.ndjson")])).toHaveLength(20)
    })
  )
})
