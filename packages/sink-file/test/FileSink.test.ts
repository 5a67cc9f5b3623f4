import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { FileSink, activeFile, listFiles } from "../src/index.js"
import { customEvent, events, flagValue, openSink, readLines, tempDir } from "./support.js"

/** Paths of the regular files this process holds open, from /proc (Linux). */
const openFiles = Effect.promise(async () => {
  const fds = await fs.readdir("/proc/self/fd")
  const targets = await Promise.all(fds.map((fd) => fs.readlink(`/proc/self/fd/${fd}`).catch(() => "")))
  return targets
})

describe("FileSink", () => {
  it.scoped("writes every event of several batches as exactly one line that parses back to the event", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      const batches = [events(0, 5), [flagValue(100)], [customEvent(101), flagValue(102)], events(200, 17)]
      for (const [sequence, batch] of batches.entries()) {
        const result = yield* sink.write({ events: batch, sequence })
        expect(result.rejected).toEqual([])
      }
      const lines = yield* readLines([file])
      expect(lines).toStrictEqual(batches.flat())
      // The awkward characters really are in the events, so the round trip above covers them.
      const text = yield* Effect.promise(() => fs.readFile(file, "utf8"))
      expect(text).toContain("名前")
      expect(text).toContain("😀")
      expect(text.split("\n")).toHaveLength(batches.flat().length + 1)
    })
  )

  it.scoped("has every line of a batch in the file, readable by another reader, as soon as write succeeds", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      const written: Array<unknown> = []
      for (let sequence = 0; sequence < 5; sequence++) {
        const batch = events(sequence * 10, 3 + sequence)
        yield* sink.write({ events: batch, sequence })
        written.push(...batch)
        const onDisk = yield* Effect.promise(() => fs.readFile(file, "utf8"))
        expect(onDisk.split("\n").slice(0, -1).map((line) => JSON.parse(line))).toStrictEqual(written)
      }
    })
  )

  it.scoped("writes <pipeline>.ndjson inside a folder path, whether it ends with / or has no extension", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const withSlash = yield* openSink({ path: `${dir}/exports/` }, { pipeline: "flags-to-file", baseDir: dir })
      yield* withSlash.write({ events: events(0, 2), sequence: 0 })
      const withoutExtension = yield* openSink({ path: `${dir}/more/nested` }, { pipeline: "metrics", baseDir: dir })
      yield* withoutExtension.write({ events: events(2, 2), sequence: 0 })

      expect(yield* Effect.promise(() => fs.readdir(path.join(dir, "exports")))).toEqual(["flags-to-file.ndjson"])
      expect(yield* readLines([path.join(dir, "exports", "flags-to-file.ndjson")])).toStrictEqual(events(0, 2))
      expect(yield* Effect.promise(() => fs.readdir(path.join(dir, "more", "nested")))).toEqual(["metrics.ndjson"])
      expect(yield* readLines([path.join(dir, "more", "nested", "metrics.ndjson")])).toStrictEqual(events(2, 2))
    })
  )

  it.scoped("resolves a relative path against the pipeline file's folder, not the working directory", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const baseDir = path.join(dir, "pipelines")
      const context = { pipeline: "p", baseDir }
      const sink = yield* openSink({ path: "out/events.ndjson" }, context)
      yield* sink.write({ events: events(0, 3), sequence: 0 })

      const expected = path.join(dir, "pipelines", "out", "events.ndjson")
      expect(activeFile({ path: "out/events.ndjson" }, context)).toBe(expected)
      expect(yield* readLines([expected])).toStrictEqual(events(0, 3))
      expect(yield* listFiles(expected)).toEqual([expected])
    })
  )

  it.scoped("appends to what an earlier run wrote", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
          yield* sink.write({ events: events(0, 4), sequence: 0 })
        })
      )
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      yield* sink.write({ events: events(4, 4), sequence: 0 })
      expect(yield* readLines([file])).toStrictEqual(events(0, 8))
    })
  )

  it.scoped("closes the file when the scope closes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
          yield* sink.write({ events: events(0, 1), sequence: 0 })
          expect((yield* openFiles).filter((target) => target === file).length).toBeGreaterThan(0)
        })
      )
      expect((yield* openFiles).filter((target) => target === file)).toEqual([])
    })
  )

  it.scoped("declares one batch at a time, so the file stays in cursor order", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const sink = yield* openSink({ path: `${dir}/e.ndjson` }, { pipeline: "p", baseDir: dir })
      expect(sink.maxInFlight).toBe(1)
    })
  )

  it.scoped("keeps batches whole and in order even when writes are called concurrently", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      const batches = Array.from({ length: 8 }, (_, k) => events(k * 20, 1 + k))
      yield* Effect.all(
        batches.map((batch, sequence) => sink.write({ events: batch, sequence })),
        { concurrency: "unbounded" }
      )
      const lines = (yield* readLines([file])) as Array<{ readonly id: string }>
      expect(lines.map((line) => line.id).sort()).toEqual(batches.flat().map((event) => event.id).sort())
      // Each batch's lines are contiguous: no interleaving of two batches.
      for (const batch of batches) {
        const first = lines.findIndex((line) => line.id === batch[0]!.id)
        expect(lines.slice(first, first + batch.length)).toStrictEqual(batch)
      }
    })
  )

  it.scoped("writes a bigint property as a string instead of failing the batch", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      const base = flagValue(1)
      const event = { ...base, properties: { ...base.properties, counter: 12345678901234567890n } }
      const result = yield* sink.write({ events: [event, flagValue(2)], sequence: 0 })
      expect(result.rejected).toEqual([])
      const [line, next] = (yield* readLines([file])) as Array<{ readonly properties: Record<string, unknown> }>
      expect(line?.properties["counter"]).toBe("12345678901234567890")
      expect(next).toStrictEqual(flagValue(2))
    })
  )

  it.scoped("check confirms the folder is writable and leaves nothing behind", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const folder = path.join(dir, "new", "folder")
      const sink = yield* openSink({ path: `${folder}/`, maxBytes: "1MB" }, { pipeline: "p", baseDir: dir })
      const sentences = yield* sink.check!
      expect(sentences.length).toBeGreaterThan(0)
      expect(sentences.join(" ")).toContain(folder)
      expect(yield* Effect.promise(() => fs.readdir(folder))).toEqual(["p.ndjson"])
    })
  )

  it("render shows the event as the line it becomes", () => {
    const render = FileSink.render!({ path: "x.ndjson" })
    for (const event of [flagValue(3), customEvent(4)]) expect(render(event)).toStrictEqual(event)
  })
})
