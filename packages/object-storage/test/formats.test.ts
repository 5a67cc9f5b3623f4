import type { ExportEvent } from "@featbit-export/core"
import { FILE_COLUMNS, fileRow, ndjsonGzip, openParquet } from "@featbit-export/object-storage"
import { DuckDBInstance } from "@duckdb/node-api"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { gunzipSync } from "node:zlib"
import { afterAll, describe, expect, it } from "vitest"
import { sampleEvents } from "./support.js"

const folder = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-formats-"))
afterAll(() => fs.rmSync(folder, { recursive: true, force: true }))

/** Events as the files must keep them: microseconds, awkward text, a metric with a fractional value. */
const events = (): Array<ExportEvent> => {
  const batch = sampleEvents(20_000, 91)
  batch[3] = { ...batch[3]!, timestamp: "2026-12-03T07:59:59.123456Z" as ExportEvent["timestamp"] }
  batch[4] = { ...batch[4]!, user: { ...batch[4]!.user, name: 'tab\there "quoted" back\\slash \u00e9t\u00e9 \u{1f680}' }, properties: { nested: { list: [1, 2.5, null, true] } } }
  return batch
}

/** What DuckDB, a reader the warehouses agree with, reads back from a file. */
const readBack = async (file: string, sql: string) => {
  const db = await DuckDBInstance.create(":memory:")
  const connection = await db.connect()
  try {
    return (await connection.runAndReadAll(sql.replaceAll("$file", `'${file}'`))).getRowObjectsJson()
  } finally {
    connection.closeSync()
    db.closeSync()
  }
}

describe("file formats", () => {
  it("Parquet: every event once, UTC microsecond timestamps (not INT96), typed columns, JSON as text", async () => {
    const batch = events()
    const bytes = await Effect.runPromise(Effect.scoped(Effect.flatMap(openParquet, (format) => Effect.promise(() => format.encode(batch.map((event) => fileRow(event)))))))
    const file = path.join(folder, "events.parquet")
    fs.writeFileSync(file, bytes)
    const rows = await readBack(file, "SELECT id, strftime(timestamp AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS ts, user_name, properties, send_to_experiment, numeric_value FROM read_parquet($file)")
    expect(rows.length).toBe(batch.length)
    expect(rows.map((row) => row["id"])).toEqual(batch.map((event) => event.id))
    expect(rows[3]!["ts"]).toBe("2026-12-03T07:59:59.123456Z")
    expect(rows[4]!["user_name"]).toBe(batch[4]!.user.name)
    expect(JSON.parse(String(rows[4]!["properties"]))).toEqual(batch[4]!.properties)
    const schema = await readBack(file, "SELECT name, type, logical_type FROM parquet_schema($file)")
    const byName = new Map(schema.map((column) => [column["name"], column]))
    expect(byName.get("timestamp")!["type"]).toBe("INT64")
    expect(String(byName.get("timestamp")!["logical_type"])).toMatch(/TimestampType\(isAdjustedToUTC=1, unit=TimeUnit\(MILLIS=<null>, MICROS=MicroSeconds\(\), NANOS=<null>\)\)/)
    expect(byName.get("send_to_experiment")!["type"]).toBe("BOOLEAN")
    expect(byName.get("numeric_value")!["type"]).toBe("DOUBLE")
    expect(String(byName.get("properties")!["logical_type"])).toBe("JsonType()")
    expect(byName.has("env_id")).toBe(false)
    expect([...byName.keys()].filter((name) => name !== "duckdb_schema")).toEqual(FILE_COLUMNS.map((column) => column.name))
  })

  it("gzipped NDJSON: one line per event, the same columns, JSON as objects", async () => {
    const batch = events()
    const bytes = await ndjsonGzip.encode(batch.map((event) => fileRow(event)))
    const lines = gunzipSync(bytes).toString("utf8").trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(lines.map((line) => line["id"])).toEqual(batch.map((event) => event.id))
    expect(Object.keys(lines[0]!)).toEqual(FILE_COLUMNS.map((column) => column.name))
    expect(lines[3]!["timestamp"]).toBe("2026-12-03T07:59:59.123456Z")
    expect(lines[4]!["user_name"]).toBe(batch[4]!.user.name)
    expect(lines[4]!["properties"]).toEqual(batch[4]!.properties)
    // DuckDB reads it back as newline-delimited JSON.
    const file = path.join(folder, "events.ndjson.gz")
    fs.writeFileSync(file, bytes)
    const [counted] = await readBack(file, "SELECT count(*) AS n, count(DISTINCT id) AS d FROM read_json($file, format = 'newline_delimited')")
    expect([Number(counted!["n"]), Number(counted!["d"])]).toEqual([batch.length, batch.length])
  })
})
