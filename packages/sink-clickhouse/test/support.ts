import { ClickHouseSink, createTableSql } from "@featbit-export/sink-clickhouse"
import { type PluginContext, type Sink, type SinkError, planColumns } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
// One chDB engine per process: the source's test helper owns it; this package's tests share it.
import { closeEngine, engine, engineFolder } from "../../source-clickhouse/test/support/chdb.js"

export { closeEngine, engine, engineFolder }

export const context: PluginContext = { pipeline: "test", baseDir: "/" }

let tables = 0
/** A fresh database name for one test. */
export const freshDatabase = async (): Promise<string> => {
  tables += 1
  const database = `sink_${process.pid}_${tables}`
  await engine().command({ query: `CREATE DATABASE ${database}` })
  return database
}

/** Creates the sink's own table in `database`. */
export const createSinkTable = (database: string, table = "featbit_events", window = 10_000) =>
  engine().command({ query: createTableSql({ database, table }, planColumns(undefined), window) })

export const openSink = (config: Record<string, unknown>): Effect.Effect<Sink, SinkError, Scope.Scope> =>
  Effect.flatMap(Effect.orDie(Schema.decodeUnknown(ClickHouseSink.config)(config)), (decoded) => ClickHouseSink.make(decoded, context))

export const rowsOf = async <A = Record<string, unknown>>(query: string): Promise<Array<A>> =>
  (await (await engine().query({ query, format: "JSONEachRow" })).json()) as Array<A>

export const counts = async (table: string): Promise<{ rows: number; ids: number }> => {
  const [row] = await rowsOf<{ rows: string; ids: string }>(`SELECT count() AS rows, uniqExact(id) AS ids FROM ${table}`)
  return { rows: Number(row!.rows), ids: Number(row!.ids) }
}
