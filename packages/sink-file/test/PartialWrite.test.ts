import { execFileSync } from "node:child_process"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { events, openSink, readLines, tempDir } from "./support.js"

const hasPrlimit = (() => {
  try {
    execFileSync("prlimit", ["--pid", String(process.pid), "--fsize"], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
})()

/** Caps the size of files this process may write (RLIMIT_FSIZE) until the scope closes. */
const limitFileSize = (bytes: number) =>
  Effect.acquireRelease(
    Effect.sync(() => execFileSync("prlimit", ["--pid", String(process.pid), `--fsize=${bytes}:unlimited`])),
    () => Effect.sync(() => execFileSync("prlimit", ["--pid", String(process.pid), "--fsize=unlimited:unlimited"]))
  )

const lineBytes = (count: number, from: number) =>
  events(from, count).reduce((sum, event) => sum + Buffer.byteLength(JSON.stringify(event) + "\n"), 0)

describe("a write that fails half-way", () => {
  // The kernel writes up to the file size limit and refuses the rest: a real partial write, as a full disk
  // would leave it. The retry must not land after the torn half.
  it.scoped.skipIf(!hasPrlimit)("is undone before the next write, so the file keeps only whole lines", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      yield* sink.write({ events: events(0, 3), sequence: 0 })
      const good = lineBytes(3, 0)
      const failing = events(3, 10)
      const limit = good + Math.floor(lineBytes(10, 3) / 2)
      expect(lineBytes(1, 13)).toBeLessThan(limit - good)

      const result = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* limitFileSize(limit)
          const error = yield* Effect.flip(sink.write({ events: failing, sequence: 1 }))
          const torn = (yield* Effect.promise(() => fs.stat(file))).size
          const retried = yield* Effect.either(sink.write({ events: events(13, 1), sequence: 1 }))
          return { error, torn, retried }
        })
      )
      expect(result.error._tag).toBe("SinkError")
      expect(result.error.message).toContain(file)
      // The failed write really did leave part of the batch behind.
      expect(result.torn).toBeGreaterThan(good)
      expect(result.retried._tag).toBe("Right")
      expect(yield* readLines([file])).toStrictEqual([...events(0, 3), ...events(13, 1)])
    })
  )
})
