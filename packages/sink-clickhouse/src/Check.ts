import { type ColumnPlan, SinkError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { Connection } from "./Client.js"
import { PLUGIN, type Target, classify, exceptionCode } from "./Errors.js"
import { type TableName, quoteIdentifier, typeProblem } from "./Table.js"

export interface CheckSettings extends TableName {
  readonly plan: ColumnPlan
  readonly createTable: boolean
}

/** Runs a query and returns its rows as objects. */
export const selectRows = (connection: Connection, target: Target, query: string, params: Record<string, unknown>, doing: string) =>
  Effect.tryPromise({
    try: async () => (await (await connection.client.query({ query, query_params: params, format: "JSONEachRow" })).json()) as Array<Record<string, unknown>>,
    catch: (error) => classify(error, target, doing)
  })

const windowOf = (engineFull: string): number | undefined => {
  const match = /non_replicated_deduplication_window\s*=\s*(\d+)/.exec(engineFull)
  return match === null ? undefined : Number(match[1])
}

/**
 * Connects, says the server's version, and confirms the table: its engine, its sort key (which must hold the
 * id, or ReplacingMergeTree would collapse different events), every column this sink writes and its type, the
 * deduplication window, and that the user may insert. Problems fail with every mismatch and what to fix.
 */
export const checkSink = (connection: Connection, target: Target, settings: CheckSettings): Effect.Effect<ReadonlyArray<string>, SinkError> =>
  Effect.gen(function* () {
    const facts: Array<string> = []
    const [about] = yield* selectRows(connection, target, "SELECT version() AS version, currentUser() AS user", {}, `connecting to ${connection.where}`)
    facts.push(
      connection.kind === "chdb"
        ? `opened the ${connection.where} (ClickHouse ${String(about?.["version"])})`
        : `connected to ClickHouse ${String(about?.["version"])} at ${connection.where} as user "${String(about?.["user"])}"`
    )
    const databases = yield* selectRows(connection, target, "SELECT name FROM system.databases WHERE name = {db:String}", { db: settings.database }, "listing databases")
    if (databases.length === 0) {
      return yield* Effect.fail(SinkError.fatal(PLUGIN, `the database "${settings.database}" does not exist on ${connection.where}; create it (CREATE DATABASE ${quoteIdentifier(settings.database)}) or fix the sink's database`))
    }
    const [table] = yield* selectRows(
      connection,
      target,
      "SELECT engine, engine_full, sorting_key FROM system.tables WHERE database = {db:String} AND name = {table:String}",
      { db: settings.database, table: settings.table },
      "reading the table's definition"
    )
    if (table === undefined) {
      if (!settings.createTable) {
        return yield* Effect.fail(SinkError.fatal(PLUGIN, `the table ${target.table} does not exist on ${connection.where}; create it (see the README's DDL), set createTable: true, or fix the sink's table`))
      }
      facts.push(`table ${target.table} does not exist yet: the first write creates it (ReplacingMergeTree, needs CREATE TABLE)`)
      return facts
    }
    const engine = String(table["engine"])
    const engineFull = String(table["engine_full"])
    const sortingKey = String(table["sorting_key"])
    const problems: Array<string> = []
    const warnings: Array<string> = []
    const columns = yield* selectRows(
      connection,
      target,
      "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {table:String}",
      { db: settings.database, table: settings.table },
      "reading the table's columns"
    )
    const types = new Map(columns.map((row) => [String(row["name"]), String(row["type"])]))
    for (const { column, target: name } of settings.plan.columns) {
      const type = types.get(name)
      if (type === undefined) {
        problems.push(`column ${name} is missing: ALTER TABLE ... ADD COLUMN ${quoteIdentifier(name)} ..., rename it with columns.${column.name}: <its name>, or leave it out with columns.${column.name}: false`)
        continue
      }
      const problem = typeProblem(column, name, type)
      if (problem !== undefined) problems.push(problem)
    }
    if (!engine.includes("MergeTree") && engine !== "Distributed") {
      problems.push(`the table's engine is ${engine}: insert deduplication tokens need a MergeTree engine (ReplacingMergeTree for the README's layout)`)
    }
    const id = settings.plan.columns.find((c) => c.column.name === "id")!.target
    if (engine.includes("ReplacingMergeTree") && !sortingKey.split(",").map((part) => part.trim().replace(/^`|`$/g, "")).includes(id)) {
      problems.push(`the table is a ReplacingMergeTree sorted by (${sortingKey}) without ${id}: merges would collapse different events into one; ORDER BY must end with ${id}`)
    }
    if (problems.length > 0) {
      return yield* Effect.fail(SinkError.fatal(PLUGIN, `${target.table} on ${connection.where} does not fit what this sink writes: ${problems.join("; ")}`))
    }
    facts.push(`table ${target.table} (${engine}, ORDER BY ${sortingKey}) has every column this sink writes, with fitting types`)
    if (engine.startsWith("Replicated")) {
      facts.push("the table is replicated: a retried insert is dropped within replicated_deduplication_window inserts")
    } else if (engine.includes("MergeTree")) {
      let window = windowOf(engineFull)
      if (window === undefined) {
        const [row] = yield* selectRows(connection, target, "SELECT value FROM system.merge_tree_settings WHERE name = 'non_replicated_deduplication_window'", {}, "reading the default deduplication window")
        window = Number(row?.["value"] ?? 0)
      }
      if (window === 0) {
        warnings.push(
          `warning: ${target.table} has non_replicated_deduplication_window = 0, so a retried insert is stored twice (until merges collapse it${engine.includes("Replacing") ? "" : ", and never on a plain MergeTree"}); run ALTER TABLE ${quoteIdentifier(settings.database)}.${quoteIdentifier(settings.table)} MODIFY SETTING non_replicated_deduplication_window = 10000`
        )
      } else facts.push(`a retried insert is dropped by its token (non_replicated_deduplication_window = ${window})`)
    }
    // An INSERT without rows: the server checks the INSERT grant on every column and stores nothing.
    const insertable = settings.plan.columns.map((c) => quoteIdentifier(c.target)).join(", ")
    yield* Effect.tryPromise({
      try: async () => {
        const result = await connection.client.exec({ query: `INSERT INTO ${quoteIdentifier(settings.database)}.${quoteIdentifier(settings.table)} (${insertable}) FORMAT JSONEachRow\n` })
        result.stream.destroy()
      },
      catch: (error) => error
    }).pipe(
      Effect.catchAll((error) => (exceptionCode(error) === 108 ? Effect.void : Effect.fail(classify(error, target, "checking the INSERT permission"))))
    )
    facts.push(connection.kind === "chdb" ? "the embedded engine has no users: inserts are allowed" : `user "${target.username}" may insert into ${target.table}`)
    return [...facts, ...warnings]
  })
