import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as DeadLetter from "../src/DeadLetter.js"
import type { ExportEvent } from "../src/Event.js"
import type { Timestamp } from "../src/Timestamp.js"

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "featbit-export-dead-letters-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

const event: ExportEvent = {
  event: "CustomEvent",
  id: "0b6c1f0e-6a43-4b8e-9a55-2f7d1c9e4a11",
  envId: "32f6be54-6796-44dd-bc82-f4824b0da13c",
  distinctId: "checkout-completed",
  timestamp: "2023-12-12T07:45:01.123000Z" as Timestamp,
  user: { keyId: "tester-id-6973", name: "tester-6973" },
  route: "index/metric",
  accountId: "",
  projectId: "",
  tags: { tag_0: "tester-id-6973", tag_1: "1", tag_2: "tester-6973" },
  properties: { eventName: "checkout-completed", numericValue: 1 },
  eventName: "checkout-completed",
  numericValue: 1,
  applicationType: "dotnet-server-side"
}

const sinkLetter: DeadLetter.DeadLetter = {
  at: "2024-01-02T03:04:05.000Z",
  pipeline: "metrics",
  stage: "sink",
  plugin: "segment",
  id: event.id,
  reason: "HTTP 400: event larger than 32 KB",
  event
}

const sourceLetter: DeadLetter.DeadLetter = {
  at: "2024-01-02T03:04:06.000Z",
  pipeline: "metrics",
  stage: "source",
  plugin: "clickhouse",
  id: "4be3e7b9-3db7-4537-8e46-b2831f579bcf",
  reason: "properties is not valid JSON (Unexpected end of JSON input)\nsecond line of the reason",
  row: { uuid: "4be3e7b9-3db7-4537-8e46-b2831f579bcf", properties: '{"route":', _offset: 1234n }
}

const readLines = (file: string) =>
  Effect.promise(() => fs.readFile(file, "utf8")).pipe(
    Effect.map((text) => {
      expect(text.endsWith("\n")).toBe(true)
      return text.slice(0, -1).split("\n")
    })
  )

describe("DeadLetter.makeFile", () => {
  it.scopedLive("appends one JSON line per letter, creating the folder", () =>
    Effect.gen(function* () {
      const dir = path.join(yield* tempDir, "state")
      const store = DeadLetter.makeFile(dir)
      yield* store.append("metrics", [sinkLetter, sourceLetter])
      const file = DeadLetter.deadLetterFile(dir, "metrics")
      expect(path.dirname(file)).toBe(dir)
      const lines = yield* readLines(file)
      expect(lines).toHaveLength(2)
      const [first, second] = lines.map((line) => JSON.parse(line))
      expect(first).toEqual(JSON.parse(JSON.stringify(sinkLetter)))
      expect(first.event.id).toBe(event.id)
      expect(second.stage).toBe("source")
      expect(second.reason).toBe(sourceLetter.reason)
    })
  )

  it.scopedLive("appends to what is there, never replacing it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = DeadLetter.makeFile(dir)
      yield* store.append("metrics", [sinkLetter])
      // a new store on the same folder (a restarted runner) keeps appending
      yield* DeadLetter.makeFile(dir).append("metrics", [sourceLetter, sinkLetter])
      const lines = yield* readLines(DeadLetter.deadLetterFile(dir, "metrics"))
      expect(lines.map((line) => JSON.parse(line).stage)).toEqual(["sink", "source", "sink"])
    })
  )

  it.scopedLive("writes bigint values (ClickHouse UInt64, BSON Int64) as text instead of throwing", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* DeadLetter.makeFile(dir).append("metrics", [sourceLetter])
      const [line] = yield* readLines(DeadLetter.deadLetterFile(dir, "metrics"))
      const parsed = JSON.parse(line!)
      expect(parsed.row._offset).toBe("1234")
      expect(parsed.row.properties).toBe('{"route":')
    })
  )

  it.scopedLive("keeps one file per pipeline", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = DeadLetter.makeFile(dir)
      yield* store.append("metrics", [sinkLetter])
      yield* store.append("flags", [{ ...sourceLetter, pipeline: "flags" }])
      expect(yield* readLines(DeadLetter.deadLetterFile(dir, "metrics"))).toHaveLength(1)
      expect(yield* readLines(DeadLetter.deadLetterFile(dir, "flags"))).toHaveLength(1)
      expect(DeadLetter.deadLetterFile(dir, "flags")).not.toBe(DeadLetter.deadLetterFile(dir, "metrics"))
    })
  )

  it.scopedLive("appending nothing creates no file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* DeadLetter.makeFile(dir).append("metrics", [])
      expect(yield* Effect.promise(() => fs.readdir(dir))).toEqual([])
    })
  )

  it.scopedLive("concurrent appends keep every line whole", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const store = DeadLetter.makeFile(dir)
      const big = { ...sinkLetter, reason: "x".repeat(100_000) }
      yield* Effect.all(
        Array.from({ length: 8 }, (_, i) => store.append("metrics", [{ ...big, id: `id-${i}` }, { ...sourceLetter, id: `id-${i}-b` }])),
        { concurrency: "unbounded" }
      )
      const lines = yield* readLines(DeadLetter.deadLetterFile(dir, "metrics"))
      expect(lines).toHaveLength(16)
      const ids = lines.map((line) => JSON.parse(line).id as string).sort()
      expect(ids).toEqual(Array.from({ length: 8 }, (_, i) => [`id-${i}`, `id-${i}-b`]).flat().sort())
    })
  )

  it.scopedLive("a folder that cannot be written is a DeadLetterError naming the file", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const notAFolder = path.join(dir, "file")
      yield* Effect.promise(() => fs.writeFile(notAFolder, "x"))
      const error = yield* Effect.flip(DeadLetter.makeFile(notAFolder).append("metrics", [sinkLetter]))
      expect(error._tag).toBe("DeadLetterError")
      expect(error.message).toContain(DeadLetter.deadLetterFile(notAFolder, "metrics"))
    })
  )
})

describe("DeadLetter.makeMemory", () => {
  it.effect("collects letters in order", () =>
    Effect.gen(function* () {
      const letters: Array<DeadLetter.DeadLetter> = []
      const store = DeadLetter.makeMemory(letters)
      yield* store.append("metrics", [sinkLetter])
      yield* store.append("metrics", [sourceLetter])
      expect(letters).toEqual([sinkLetter, sourceLetter])
    })
  )
})

describe("DeadLetter.makeFile after a torn append", () => {
  it("starts the next record on a fresh line, keeping the torn one as evidence", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "dead-letter-torn-"))
    const file = DeadLetter.deadLetterFile(dir, "p")
    await fs.writeFile(file, '{"complete":true}\n{"torn":')
    const letter = { at: "2024-01-01T00:00:00.000Z", pipeline: "p", stage: "sink" as const, plugin: "x", id: "id-1", reason: "too large" }
    await Effect.runPromise(DeadLetter.makeFile(dir).append("p", [letter]))
    const lines = (await fs.readFile(file, "utf8")).split("\n")
    expect(lines[1]).toBe('{"torn":')
    expect(JSON.parse(lines[2]!)).toEqual(letter)
    await fs.rm(dir, { recursive: true, force: true })
  })
})
