import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { ExportEvent } from "@featbit-export/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { listFiles } from "../src/index.js"
import { events, openSink, readLines, tempDir } from "./support.js"

const lineBytes = (batch: ReadonlyArray<ExportEvent>): number =>
  batch.reduce((sum, event) => sum + Buffer.byteLength(JSON.stringify(event) + "\n"), 0)

const sizeOf = (file: string) => Effect.promise(() => fs.stat(file)).pipe(Effect.map((stat) => stat.size))

describe("rotation", () => {
  it.scoped("spreads batches over several files, none past maxBytes unless one batch alone is larger", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const maxBytes = 4000
      // Mostly small batches, and one that cannot fit in any file.
      const batches: Array<ReadonlyArray<ExportEvent>> = []
      for (let k = 0, next = 0; k < 14; k++) {
        const size = k === 6 ? 12 : 1 + (k % 4)
        batches.push(events(next, size))
        next += size
      }
      const big = batches[6]!
      expect(lineBytes(big)).toBeGreaterThan(maxBytes)
      expect(lineBytes(batches.flat())).toBeGreaterThan(3 * maxBytes)

      const sink = yield* openSink({ path: file, maxBytes: "4KB" }, { pipeline: "p", baseDir: dir })
      for (const [sequence, batch] of batches.entries()) yield* sink.write({ events: batch, sequence })

      const files = yield* listFiles(file)
      expect(files.length).toBeGreaterThanOrEqual(4)
      expect(files.at(-1)).toBe(file)
      const oversized: Array<string> = []
      for (const written of files) if ((yield* sizeOf(written)) > maxBytes) oversized.push(written)
      expect(oversized.length).toBeLessThanOrEqual(1)
      for (const written of oversized) expect(yield* readLines([written])).toStrictEqual(big)

      // Every event exactly once, in the order written, when the files are read in listed order.
      expect(yield* readLines(files)).toStrictEqual(batches.flat())
      // No batch is split across two files.
      const fileOf = new Map<string, string>()
      for (const written of files) {
        for (const line of (yield* readLines([written])) as Array<{ readonly id: string }>) fileOf.set(line.id, written)
      }
      for (const batch of batches) expect(new Set(batch.map((event) => fileOf.get(event.id))).size).toBe(1)
    })
  )

  it.scoped("keeps the rule when writes are called concurrently", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const maxBytes = 3000
      const sink = yield* openSink({ path: file, maxBytes }, { pipeline: "p", baseDir: dir })
      const batches = Array.from({ length: 20 }, (_, k) => events(k * 10, 1 + (k % 3)))
      yield* Effect.all(
        batches.map((batch, sequence) => sink.write({ events: batch, sequence })),
        { concurrency: "unbounded" }
      )
      const files = yield* listFiles(file)
      expect(files.length).toBeGreaterThan(1)
      for (const written of files) expect(yield* sizeOf(written)).toBeLessThanOrEqual(maxBytes)
      const ids = ((yield* readLines(files)) as Array<{ readonly id: string }>).map((line) => line.id)
      expect(ids.sort()).toEqual(batches.flat().map((event) => event.id).sort())
    })
  )

  it.scopedLive("names rotated files <stem>-<UTC time>-<n><extension> next to the active file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "out", "flags.jsonl")
      const sink = yield* openSink({ path: file, maxBytes: 1 }, { pipeline: "p", baseDir: dir })
      const before = Date.now()
      for (let sequence = 0; sequence < 4; sequence++) yield* sink.write({ events: events(sequence, 1), sequence })
      const after = Date.now()

      const names = (yield* Effect.promise(() => fs.readdir(path.join(dir, "out")))).sort()
      expect(names).toHaveLength(4)
      expect(names).toContain("flags.jsonl")
      const rotated = names.filter((name) => name !== "flags.jsonl")
      const seen = new Set<string>()
      for (const name of rotated) {
        const match = /^flags-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z-(\d+)\.jsonl$/.exec(name)
        expect(match, name).not.toBeNull()
        const [, y, mo, d, h, mi, s, ms, n] = match!
        const at = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number(ms))
        expect(at).toBeGreaterThanOrEqual(before)
        expect(at).toBeLessThanOrEqual(after)
        seen.add(`${at}-${n}`)
      }
      expect(seen.size).toBe(3)
      expect(yield* readLines(yield* listFiles(file))).toStrictEqual(events(0, 4))
    })
  )

  // Under the test clock every rotation happens in the same millisecond, so only n tells the files apart
  // and orders them; "-10" must sort after "-9".
  it.scoped("gives files rotated in the same millisecond distinct names, listed in the order written", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file, maxBytes: 10 }, { pipeline: "p", baseDir: dir })
      for (let sequence = 0; sequence < 13; sequence++) yield* sink.write({ events: events(sequence, 1), sequence })
      const files = yield* listFiles(file)
      expect(files).toHaveLength(13)
      expect(yield* readLines(files)).toStrictEqual(events(0, 13))
    })
  )

  it.scoped("rotates a file an earlier run left larger than maxBytes before writing to it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      yield* Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
          yield* sink.write({ events: events(0, 10), sequence: 0 })
        })
      )
      const sink = yield* openSink({ path: file, maxBytes: 2000 }, { pipeline: "p", baseDir: dir })
      yield* sink.write({ events: events(10, 1), sequence: 0 })
      const files = yield* listFiles(file)
      expect(files).toHaveLength(2)
      expect(yield* readLines([files[0]!])).toStrictEqual(events(0, 10))
      expect(yield* readLines([file])).toStrictEqual(events(10, 1))
    })
  )

  it.scoped("never rotates without maxBytes", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      for (let sequence = 0; sequence < 10; sequence++) yield* sink.write({ events: events(sequence * 5, 5), sequence })
      expect(yield* listFiles(file)).toEqual([file])
      expect(yield* readLines([file])).toStrictEqual(events(0, 50))
    })
  )
})
