import { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type { Connection } from "./Client.js"
import { PLUGIN, redact } from "./Errors.js"
import { type ReadSettings, SELECT_LIST } from "./Read.js"

/** The columns the source reads. */
export const REQUIRED_COLUMNS = ["id", "distinct_id", "env_id", "event", "properties", "timestamp"] as const

/** What `check` needs besides the read settings. */
export interface CheckTarget {
  readonly schema: string
  readonly table: string
}

/** An index's name, definition and leading plain columns (expressions are null). */
export interface IndexInfo {
  readonly name: string
  readonly def: string
  readonly columns: ReadonlyArray<string | null>
}

/**
 * Whether an index serves the keyset order `ORDER BY timestamp, id` with range conditions on timestamp:
 * its leading columns are `timestamp`, or `env_id, timestamp` when the source filters on environments.
 */
export const servesKeyset = (index: IndexInfo, byEnv: boolean): boolean => {
  const [first, second] = index.columns
  return first === "timestamp" || (byEnv && first === "env_id" && second === "timestamp")
}

/** The statement that creates the index the keyset reads want. */
export const indexAdvice = (target: CheckTarget, quotedTable: string, byEnv: boolean): string => {
  const name = `idx_${target.table}_${byEnv ? "env_id_" : ""}timestamp_id`.slice(0, 63)
  const quotedName = '"' + name.replace(/"/g, '""') + '"'
  return `CREATE INDEX CONCURRENTLY ${quotedName} ON ${quotedTable} (${byEnv ? "env_id, " : ""}"timestamp", id);`
}

/**
 * Connects, authenticates, and confirms the table, the SELECT privilege and the columns the source reads;
 * runs the page query with `LIMIT 0`; and says whether an index serves the keyset order, with the exact
 * `CREATE INDEX CONCURRENTLY` statement when none does (the source works without it, only slower).
 */
export const checkSource = (connection: Connection, settings: ReadSettings, target: CheckTarget): Effect.Effect<ReadonlyArray<string>, SourceError> =>
  Effect.gen(function* () {
    const { context, query } = connection
    const where = `PostgreSQL at ${context.target}`
    const fatal = (message: string) => SourceError.fatal(PLUGIN, redact(message, context.secrets))
    const facts: Array<string> = []

    const [server] = yield* query<{ version: string; user: string; db: string }>(
      "SELECT current_setting('server_version') AS version, current_user AS user, current_database() AS db",
      [],
      `connecting to ${context.target}`
    )
    facts.push(`connected to PostgreSQL ${(server?.version ?? "?").split(" ")[0]} at ${context.target} as user "${server?.user ?? context.user}"`)

    const [found] = yield* query<{ oid: string | null }>("SELECT to_regclass($1)::oid::text AS oid", [settings.table], `looking up ${settings.table}`)
    if (found === undefined || found.oid === null) {
      const [tables] = yield* query<{ names: Array<string> | null }>(
        "SELECT array_agg(table_name::text ORDER BY table_name) AS names FROM information_schema.tables WHERE table_schema = $1",
        [target.schema],
        "listing tables"
      )
      const names = tables?.names ?? []
      return yield* Effect.fail(
        fatal(
          `the table ${settings.table} does not exist in ${context.database} on ${where} (or user "${context.user}" may not see it); tables in schema ${target.schema}: ${names.length === 0 ? "none" : names.slice(0, 12).join(", ")}; set the source's schema and table (FeatBit Standard writes public.events)`
        )
      )
    }
    const oid = found.oid

    const [privilege] = yield* query<{ ok: boolean; usage: boolean }>(
      "SELECT has_table_privilege($1::oid, 'SELECT') AS ok, has_schema_privilege($2, 'USAGE') AS usage",
      [oid, target.schema],
      "checking privileges"
    )
    if (privilege === undefined || !privilege.ok || !privilege.usage) {
      return yield* Effect.fail(
        fatal(
          `user "${context.user}" may not read ${settings.table} on ${where}; run GRANT USAGE ON SCHEMA ${target.schema} and GRANT SELECT ON ${settings.table} TO "${context.user}"`
        )
      )
    }

    const columns = yield* query<{ name: string; type: string }>(
      "SELECT attname::text AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped",
      [oid],
      "listing columns"
    )
    const types = new Map(columns.map((column) => [column.name, column.type]))
    const missing = REQUIRED_COLUMNS.filter((name) => !types.has(name))
    if (missing.length > 0) {
      return yield* Effect.fail(
        fatal(
          `the table ${settings.table} on ${where} lacks the column${missing.length === 1 ? "" : "s"} ${missing.join(", ")} that FeatBit's events table has (it has ${[...types.keys()].join(", ") || "no columns"}); point the source at FeatBit's events table`
        )
      )
    }
    const tsType = types.get("timestamp") ?? ""
    if (!tsType.startsWith("timestamp")) {
      return yield* Effect.fail(fatal(`the column timestamp of ${settings.table} is ${tsType}, not a timestamp; is it FeatBit's events table?`))
    }
    facts.push(`table ${settings.table} has the columns ${REQUIRED_COLUMNS.join(", ")}, and user "${server?.user ?? context.user}" has SELECT on it`)

    // The page query itself, reading nothing: the columns and casts exactly as a read uses them.
    yield* query(`SELECT ${SELECT_LIST} FROM ${settings.table} ORDER BY "timestamp", id::text COLLATE "C" LIMIT 0`, [], `reading ${settings.table}`)

    // pg_indexes has each definition; pg_index the column list, so prefixes are compared, not texts parsed.
    const indexes = yield* query<IndexInfo>(
      `SELECT c.relname::text AS name, i.indexdef AS def,
              ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
                    LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n) AS columns
         FROM pg_index x
         JOIN pg_class c ON c.oid = x.indexrelid
         JOIN pg_namespace s ON s.oid = c.relnamespace
         JOIN pg_indexes i ON i.schemaname = s.nspname AND i.indexname = c.relname
        WHERE x.indrelid = $1::oid AND x.indpred IS NULL AND x.indisvalid`,
      [oid],
      "listing indexes"
    )
    const byEnv = settings.envIds !== undefined
    const serving = indexes.find((index) => servesKeyset(index, byEnv))
    if (serving !== undefined) {
      facts.push(`index ${serving.name} serves the keyset reads (${serving.def})`)
    } else {
      facts.push(
        `no index of ${settings.table} serves the keyset order (${byEnv ? "env_id, " : ""}timestamp, id)` +
          `${indexes.length === 0 ? "" : ` (it has ${indexes.map((index) => index.name).join(", ")})`}; reads work but scan the table on every page; ` +
          `to make them fast run: ${indexAdvice(target, settings.table, byEnv)}`
      )
    }
    return facts
  })
