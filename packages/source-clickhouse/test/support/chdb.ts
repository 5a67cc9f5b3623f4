// One embedded ClickHouse (chDB) per test process: chdb binds one data folder per process, so every test
// file opens the same folder and keeps its data apart in databases of its own.
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from "@clickhouse/client"
import type { FeatBitRow, PluginContext, Source, SourceError } from "@featbit-export/core"
import { createChdbConnection } from "chdb/connection"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ClickHouseSource, createFeatBitEventsTable, insertFeatBitRows } from "../../src/index.js"

let folder: string | undefined
let client: ClickHouseClient | undefined

/** The process's chdb folder, made on first use. */
export const engineFolder = (): string => (folder ??= mkdtempSync(join(tmpdir(), "featbit-export-chdb-")))

/** A client on the process's embedded engine (the same engine the sources under test open). */
export const engine = (): ClickHouseClient =>
  (client ??= createClient({ connection: createChdbConnection({ path: engineFolder() }) as never, log: { level: ClickHouseLogLevel.OFF } }))

/** Closes the engine and removes its folder: call it in `afterAll`. */
export const closeEngine = async (): Promise<void> => {
  await client?.close()
  client = undefined
  if (folder !== undefined) rmSync(folder, { recursive: true, force: true })
  folder = undefined
}

let tables = 0

export interface TestTable {
  readonly database: string
  readonly table: string
}

/** A new FeatBit `events` table in a database of its own, holding `rows`. */
export const freshTable = async (rows: Iterable<FeatBitRow> = [], names: Partial<TestTable> = {}): Promise<TestTable> => {
  tables += 1
  const where = { database: names.database ?? `test_${process.pid}_${tables}`, table: names.table ?? "events" }
  await createFeatBitEventsTable(engine(), where)
  await insertFeatBitRows(engine(), rows, where)
  return where
}

export const insertRows = (where: TestTable, rows: Iterable<FeatBitRow>, firstOffset = 0): Promise<number> =>
  insertFeatBitRows(engine(), rows, { ...where, firstOffset })

/** The embedded engine's clock (`now64()`), in milliseconds: the clock the source's horizon follows. */
export const engineNow = async (): Promise<number> => {
  const result = await engine().query({ query: "SELECT toString(now64(6), 'UTC') AS now", format: "JSONEachRow" })
  const [row] = (await result.json()) as Array<{ now: string }>
  return Date.parse(row!.now.replace(" ", "T").slice(0, 23) + "Z")
}

export const context: PluginContext = { pipeline: "test", baseDir: "/" }

/** Decodes `config` as a pipeline file would (defaults, `Redacted`) and opens the plugin. */
export const openSource = (config: Record<string, unknown>, pluginContext: PluginContext = context): Effect.Effect<Source, SourceError, Scope.Scope> =>
  Effect.flatMap(Effect.orDie(Schema.decodeUnknown(ClickHouseSource.config)(config)), (decoded) => ClickHouseSource.make(decoded, pluginContext))

/** Opens the source on a table of the process's engine. */
export const openChdbSource = (where: TestTable, config: Record<string, unknown> = {}): Effect.Effect<Source, SourceError, Scope.Scope> =>
  openSource({ url: `chdb:${engineFolder()}`, database: where.database, table: where.table, lag: 0, ...config })
