import type { ColumnKind, EventRow } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { FileFormat } from "./FileFormat.js"
import { FILE_COLUMNS } from "./FileRows.js"

/**
 * Parquet column types. Timestamps are TIMESTAMPTZ: DuckDB writes them as INT64 TIMESTAMP(MICROS,
 * isAdjustedToUTC=true), which warehouses read as instants (its TIMESTAMP, and the other Node writers, leave
 * isAdjustedToUTC false, or keep milliseconds, or write INT96). Ids are strings: the UUID logical type is
 * less widely read. json columns are JSON (a string column with the JSON logical type).
 */
const SQL_TYPES: Record<ColumnKind, string> = {
  uuid: "VARCHAR",
  text: "VARCHAR",
  timestamp: "TIMESTAMPTZ",
  boolean: "BOOLEAN",
  double: "DOUBLE",
  json: "JSON"
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`
/**
 * The rows' own table holds timestamps as their UTC text (`2026-12-03T08:00:00.123456Z`), cast to TIMESTAMPTZ by
 * the COPY: DuckDB parses the text in C++ faster than JavaScript can make the microseconds (a BigInt) per value.
 */
const STAGING_SQL = FILE_COLUMNS.map((column) => `${quote(column.name)} ${column.kind === "timestamp" ? "VARCHAR" : SQL_TYPES[column.kind]}`).join(", ")
const SELECT_SQL = FILE_COLUMNS.map((column) =>
  column.kind === "timestamp" ? `CAST(${quote(column.name)} AS TIMESTAMPTZ) AS ${quote(column.name)}` : quote(column.name)
).join(", ")

/**
 * Parquet through DuckDB (embedded, in memory, from npm with its binary: no network at install or run):
 * rows go through an appender into a table of their own, then `COPY ... (FORMAT parquet, COMPRESSION zstd)`
 * into a temporary file that is read back and removed. One engine per sink, closed with its scope.
 */
export const openParquet: Effect.Effect<FileFormat, never, Scope.Scope> = Effect.gen(function* () {
  const folder = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-parquet-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  // Loaded when a sink opens Parquet, not when the runner starts: DuckDB's engine is ~30 MB of memory.
  const { DuckDBInstance } = yield* Effect.promise(() => import("@duckdb/node-api"))
  const instance = yield* Effect.acquireRelease(
    Effect.promise(() => DuckDBInstance.create(":memory:", { threads: "2" })),
    (db) => Effect.sync(() => db.closeSync())
  )
  let files = 0
  const encode = async (rows: ReadonlyArray<EventRow>): Promise<Buffer> => {
    const n = files++
    const table = `rows_${n}`
    const file = path.join(folder, `${n}.parquet`)
    const connection = await instance.connect()
    try {
      await connection.run(`CREATE TABLE ${table} (${STAGING_SQL})`)
      const appender = await connection.createAppender(table)
      for (const row of rows) {
        for (const column of FILE_COLUMNS) {
          const value = row[column.name]
          if (value === null || value === undefined) appender.appendNull()
          else if (column.kind === "boolean") appender.appendBoolean(value === true)
          else if (column.kind === "double") typeof value === "number" ? appender.appendDouble(value) : appender.appendNull()
          else if (column.kind === "json") appender.appendVarchar(JSON.stringify(value))
          else appender.appendVarchar(String(value))
        }
        appender.endRow()
      }
      appender.flushSync()
      appender.closeSync()
      await connection.run(`COPY (SELECT ${SELECT_SQL} FROM ${table}) TO '${file.replace(/'/g, "''")}' (FORMAT parquet, COMPRESSION zstd)`)
      return await fs.promises.readFile(file)
    } finally {
      await connection.run(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined)
      connection.closeSync()
      await fs.promises.rm(file, { force: true })
    }
  }
  return { name: "parquet", extension: "parquet", contentType: "application/vnd.apache.parquet", encode } satisfies FileFormat
})
