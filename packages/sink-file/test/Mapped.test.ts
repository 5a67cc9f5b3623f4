import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { ExportEvent, SinkFields } from "@featbit-export/core"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { FILE_MAPPABLE, FileSink, listFiles } from "../src/index.js"
import { events, flagValue, openSink, readLines, tempDir } from "./support.js"

/** `batch.fields` as the engine builds it: looked up by the event object itself. */
const fieldsOf = (entries: ReadonlyArray<readonly [ExportEvent, SinkFields]>) => {
  const byEvent = new Map(entries)
  return (event: ExportEvent) => byEvent.get(event)
}

const sizeOf = (file: string) => Effect.promise(() => fs.stat(file)).pipe(Effect.map((stat) => stat.size))

describe("mapped record (sink.map)", () => {
  it("is declared as one dyn field", () => {
    expect(FileSink.mappable).toBe(FILE_MAPPABLE)
    expect(Object.fromEntries(Object.entries(FileSink.mappable!).map(([name, field]) => [name, field.type]))).toEqual({ record: "dyn" })
  })

  it.scoped("writes the mapped record as the event's one JSON line; an event without fields is written whole", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file }, { pipeline: "p", baseDir: dir })
      const batch = events(0, 6)
      const [a, b, c, d, e] = batch as [ExportEvent, ExportEvent, ExportEvent, ExportEvent, ExportEvent, ExportEvent]
      const records: ReadonlyArray<readonly [ExportEvent, SinkFields]> = [
        [a, { record: { id: a.id, flag: "new-checkout", note: "line one\nline two\r\u2028 \"quoted\" 😀" } }],
        [b, { record: "just text\nwith a break" }],
        [c, { record: null }],
        [d, { record: [1, 2.5, "three", { four: true }] }],
        [e, { record: 42 }]
      ]
      const result = yield* sink.write({ events: batch, sequence: 0, fields: fieldsOf(records) })
      expect(result.rejected).toEqual([])
      const text = yield* Effect.promise(() => fs.readFile(file, "utf8"))
      // Six events, six lines: the line breaks inside the records are escaped.
      expect(text.split("\n")).toHaveLength(batch.length + 1)
      expect(yield* readLines([file])).toStrictEqual([...records.map(([, fields]) => fields["record"]), batch[5]])
    })
  )

  it.scoped("rotates by the bytes of the lines written: small records keep to one file where whole events would rotate", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const sink = yield* openSink({ path: file, maxBytes: "4KB" }, { pipeline: "p", baseDir: dir })
      const batches = Array.from({ length: 10 }, (_, k) => events(k * 5, 5))
      // Whole, these 50 events are many times 4 KB; as records of their id, 50 x 47 bytes.
      expect(batches.flat().reduce((n, event) => n + JSON.stringify(event).length, 0)).toBeGreaterThan(5 * 4_000)
      for (const [sequence, batch] of batches.entries()) {
        yield* sink.write({ events: batch, sequence, fields: fieldsOf(batch.map((event) => [event, { record: { id: event.id } }] as const)) })
      }
      expect(yield* listFiles(file)).toEqual([file])
      expect(yield* readLines([file])).toStrictEqual(batches.flat().map((event) => ({ id: event.id })))
    })
  )

  it.scoped("large records rotate like large events: no file past maxBytes, no batch split across files", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const file = path.join(dir, "events.ndjson")
      const maxBytes = 3_000
      const sink = yield* openSink({ path: file, maxBytes }, { pipeline: "p", baseDir: dir })
      const batches = Array.from({ length: 8 }, (_, k) => [flagValue(k * 2), flagValue(k * 2 + 1)])
      const record = (event: ExportEvent) => ({ id: event.id, pad: "é".repeat(300) })
      for (const [sequence, batch] of batches.entries()) {
        yield* sink.write({ events: batch, sequence, fields: fieldsOf(batch.map((event) => [event, { record: record(event) }] as const)) })
      }
      const files = yield* listFiles(file)
      // Each batch is ~1.2 KB on disk: two fit a file, three do not.
      expect(files.length).toBe(4)
      for (const written of files) expect(yield* sizeOf(written)).toBeLessThanOrEqual(maxBytes)
      const fileOf = new Map<string, string>()
      for (const written of files) for (const line of (yield* readLines([written])) as Array<{ id: string }>) fileOf.set(line.id, written)
      for (const batch of batches) expect(new Set(batch.map((event) => fileOf.get(event.id))).size).toBe(1)
      expect(yield* readLines(files)).toStrictEqual(batches.flat().map(record))
    })
  )

  it("render shows the record as the line holds it, or the whole event without one", () => {
    const event = flagValue(7)
    const render = FileSink.render!({ path: "out.ndjson" })
    expect(render(event, { record: { id: event.id, user: event.user.keyId } })).toStrictEqual({ id: event.id, user: event.user.keyId })
    expect(render(event, { record: null })).toBeNull()
    expect(render(event, {})).toStrictEqual(JSON.parse(JSON.stringify(event)))
    expect(render(event)).toStrictEqual(JSON.parse(JSON.stringify(event)))
  })
})
