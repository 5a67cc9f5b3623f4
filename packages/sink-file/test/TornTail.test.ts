import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { capturingWarnings, events, flagValue, openSink, readLines, tempDir } from "./support.js"

describe("a torn last line left by a crash", () => {
  it.scoped("is cut off before the first write, and every following line is valid JSON", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const acknowledged = events(0, 3)
      const torn = JSON.stringify(flagValue(3)).slice(0, 57)
      yield* Effect.promise(() =>
        fs.writeFile(file, acknowledged.map((event) => JSON.stringify(event) + "\n").join("") + torn)
      )

      const warnings: Array<string> = []
      yield* capturingWarnings(
        Effect.gen(function* () {
          const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
          // The batch the crash interrupted is delivered again, then the next one.
          yield* sink.write({ events: events(3, 2), sequence: 0 })
          yield* sink.write({ events: events(5, 2), sequence: 1 })
        }),
        warnings
      )

      expect(yield* readLines([file])).toStrictEqual(events(0, 7))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain(`${Buffer.byteLength(torn)} bytes`)
      expect(warnings[0]).toContain(file)
    })
  )

  it.scoped("empties a file that holds nothing but a torn line", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      // Longer than one read chunk, so finding that there is no line end takes several reads.
      const torn = `{"event":"FlagValue","id":"${"x".repeat(150_000)}`
      yield* Effect.promise(() => fs.writeFile(file, torn))
      const warnings: Array<string> = []
      yield* capturingWarnings(
        Effect.gen(function* () {
          const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
          yield* sink.write({ events: events(0, 2), sequence: 0 })
        }),
        warnings
      )
      expect(yield* readLines([file])).toStrictEqual(events(0, 2))
      expect(warnings.join("\n")).toContain(`${torn.length} bytes`)
    })
  )

  it.scoped("cuts back to the last line end even when it lies far before the end", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const torn = `{"event":"CustomEvent","eventName":"${"é".repeat(100_000)}`
      yield* Effect.promise(() => fs.writeFile(file, JSON.stringify(flagValue(0)) + "\n" + torn))
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      yield* sink.write({ events: events(1, 1), sequence: 0 })
      expect(yield* readLines([file])).toStrictEqual(events(0, 2))
    })
  )

  it.scoped("leaves a file that ends with a whole line untouched and logs nothing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      yield* Effect.promise(() => fs.writeFile(file, events(0, 2).map((event) => JSON.stringify(event) + "\n").join("")))
      const warnings: Array<string> = []
      yield* capturingWarnings(
        Effect.gen(function* () {
          const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
          yield* sink.write({ events: events(2, 2), sequence: 0 })
        }),
        warnings
      )
      expect(yield* readLines([file])).toStrictEqual(events(0, 4))
      expect(warnings).toEqual([])
    })
  )
})
