import { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import { PLUGIN, classify, redact, serverException, tableName } from "./Errors.js"
import type { Session } from "./Query.js"
import { type ReadSettings, SELECT_LIST, baseParams } from "./Read.js"

/** The columns the source reads; `tag_N` are not needed (the tags come from `properties`). */
export const REQUIRED_COLUMNS = ["uuid", "distinct_id", "env_id", "event", "properties", "timestamp", "_timestamp"] as const

// System tables hold no data of ours and every ClickHouse since long before 18.16 has them. These queries
// carry no parameters and no configured name: the rows are filtered here, so `check` runs on servers that
// have no query parameters (Debian's 18.16) and can say what is wrong there too.
const DATABASES_SQL = "SELECT name FROM system.databases"
const SYSTEM_DATABASES = "('system', 'INFORMATION_SCHEMA', 'information_schema')"
const TABLES_SQL = `SELECT database, name, engine FROM system.tables WHERE database NOT IN ${SYSTEM_DATABASES}`
const COLUMNS_SQL = `SELECT database, table, name, type FROM system.columns WHERE database NOT IN ${SYSTEM_DATABASES}`

const list = (names: ReadonlyArray<string>, none: string): string => {
  if (names.length === 0) return none
  const shown = names.slice(0, 12).join(", ")
  return names.length > 12 ? `${shown} and ${names.length - 12} more` : shown
}

const text = (value: unknown): string => (typeof value === "string" ? value : String(value))

/**
 * Connects, authenticates, and confirms the database, the table and the columns the source reads, then
 * runs the real page query with `LIMIT 0` (the read permission, the column types and query-parameter
 * support in one go). Each confirmed fact is one sentence; the first problem fails with a sentence that
 * says what to fix.
 */
export const checkSource = (session: Session, settings: ReadSettings): Effect.Effect<ReadonlyArray<string>, SourceError> =>
  Effect.gen(function* () {
    const { context, transport } = session
    const where = transport.target
    const table = tableName(settings)
    const fatal = (message: string) => SourceError.fatal(PLUGIN, redact(message, context.secrets))
    const facts: Array<string> = []

    const [versionRow] = yield* session.rows("SELECT version()", undefined, `connecting to ${where}`)
    const version = text(versionRow?.[0] ?? "unknown")
    facts.push(
      transport.kind === "chdb"
        ? `opened the ${where} (ClickHouse ${version})`
        : `connected to ClickHouse ${version} at ${where} as user "${context.username}"`
    )

    const databases = (yield* session.rows(DATABASES_SQL, undefined, "listing databases")).map((row) => text(row[0]))
    if (!databases.includes(settings.database)) {
      return yield* Effect.fail(
        fatal(
          `the database "${settings.database}" does not exist on ${where} (or user "${context.username}" may not see it); its databases: ${list(databases.filter((name) => !["system", "INFORMATION_SCHEMA", "information_schema"].includes(name)), "none but system")}; set the source's database`
        )
      )
    }
    facts.push(`database ${settings.database} exists`)

    const tables = (yield* session.rows(TABLES_SQL, undefined, "listing tables")).filter((row) => text(row[0]) === settings.database)
    const found = tables.find((row) => text(row[1]) === settings.table)
    if (found === undefined) {
      return yield* Effect.fail(
        fatal(
          `the table ${table} does not exist on ${where} (or user "${context.username}" may not see it); tables in ${settings.database}: ${list(tables.map((row) => text(row[1])), "none")}; set the source's table (FeatBit Pro writes events, read through distributed_events when replication is on)`
        )
      )
    }

    const columns = (yield* session.rows(COLUMNS_SQL, undefined, "listing columns")).filter(
      (row) => text(row[0]) === settings.database && text(row[1]) === settings.table
    )
    const types = new Map(columns.map((row) => [text(row[2]), text(row[3])]))
    const missing = REQUIRED_COLUMNS.filter((name) => !types.has(name))
    if (missing.length > 0) {
      return yield* Effect.fail(
        fatal(
          `the table ${table} on ${where} lacks the column${missing.length === 1 ? "" : "s"} ${missing.join(", ")} that FeatBit's events table has (it has ${list([...types.keys()], "no columns")}); point the source at FeatBit's events table`
        )
      )
    }
    const cursorType = types.get(settings.cursorColumn) ?? ""
    if (!/^(Nullable\()?DateTime/.test(cursorType)) {
      return yield* Effect.fail(
        fatal(`the cursor column ${settings.cursorColumn} of ${table} is ${cursorType}, not a DateTime; is it FeatBit's events table?`)
      )
    }
    facts.push(`table ${table} (${text(found[2])}) has the columns ${REQUIRED_COLUMNS.join(", ")}`)

    // The page query itself, reading nothing: permissions, types and query parameters, as a read will use them.
    const probe = `SELECT ${SELECT_LIST} FROM {db:Identifier}.{table:Identifier} ORDER BY {col:Identifier}, toString(uuid) LIMIT 0`
    yield* Effect.tryPromise({
      try: async (signal) => {
        const result = await transport.client.query({
          query: probe,
          format: "JSONCompact",
          query_params: baseParams({ ...settings, envIds: undefined, events: undefined }) as Record<string, unknown>,
          abort_signal: signal
        })
        await result.text()
      },
      catch: (error) => {
        const exception = serverException(error)
        // 18.16 reads `param_db` as an unknown setting; versions with parameters but no Identifier type fail to parse it.
        if (exception !== undefined && ((exception.code === 115 && /param_/.test(exception.text)) || (exception.code === 50 && /Identifier/.test(exception.text)))) {
          return fatal(
            `ClickHouse ${version} at ${where} cannot bind query parameters as this source does for every read (database and table as Identifier parameters): it needs ClickHouse 22.x or newer (FeatBit ships 23.7); upgrade the server`
          )
        }
        return classify(error, context, `reading ${table}`)
      }
    })
    facts.push(`user "${context.username}" can read ${table}`)
    return facts
  })
