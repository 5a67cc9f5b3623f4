import * as path from "node:path"
import { CheckpointStore, Cursor, DeadLetter, type ExportEvent, Pipeline, type Source, defaultRetryPolicy } from "@featbit-export/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { FileSink, activeFile, listFiles } from "../src/index.js"
import { events, openSink, readLines, tempDir } from "./support.js"

/** A source over a fixed list of events (already in cursor order), paged as the engine asks. */
const listSource = (all: ReadonlyArray<ExportEvent>): Source => ({
  read: (from, { pageSize }) => {
    const after = all.filter((event) => Cursor.isAfter(event, from))
    const pages = []
    for (let i = 0; i < after.length; i += pageSize) {
      const slice = after.slice(i, i + pageSize)
      pages.push({ events: slice, rejected: [], cursor: Cursor.of(slice.at(-1)!) })
    }
    return Stream.fromIterable(pages)
  }
})

const runOnce = (all: ReadonlyArray<ExportEvent>, config: Record<string, unknown>, stateDir: string, baseDir: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sink = yield* openSink(config, { pipeline: "flags", baseDir })
      return yield* Pipeline.run({
        name: "flags",
        source: listSource(all),
        sink,
        sourceType: "list",
        sinkType: FileSink.type,
        batchSize: 7,
        inFlight: 4,
        retry: defaultRetryPolicy,
        mode: "once",
        pollInterval: "1 second"
      })
    })
  ).pipe(Effect.provide(Layer.merge(CheckpointStore.layerFile(stateDir), DeadLetter.layerFile(stateDir))))

describe("with the pipeline engine", () => {
  it.scoped("exports every event once, in cursor order, across runs and rotations", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const stateDir = path.join(dir, "state")
      const config = { path: "exports/", maxBytes: "5KB" }
      // Ids sort in timestamp order in these events, so the list is in cursor order.
      const all = events(0, 60)

      const first = yield* runOnce(all.slice(0, 25), config, stateDir, dir)
      expect(first.exported).toBe(25)
      const second = yield* runOnce(all, config, stateDir, dir)
      expect(second.exported).toBe(35)

      const files = yield* listFiles(activeFile(config, { pipeline: "flags", baseDir: dir }))
      expect(files.length).toBeGreaterThan(1)
      expect(yield* readLines(files)).toStrictEqual(all)
    })
  )
})
