import { type ColumnPlan, SinkError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type pg from "pg"
import { PLUGIN, type Target, classify } from "./Errors.js"
import { type TableName, qualifiedName, quoteIdentifier, typeProblem } from "./Table.js"

export interface CheckSettings extends TableName {
  readonly plan: ColumnPlan
  readonly createTable: boolean
}

const fatal = (message: string) => Effect.fail(SinkError.fatal(PLUGIN, message))

/**
 * Connects, says the server's version and user, and confirms what a write needs: the schema, the table (or
 * the right to create it), every column this sink writes with a fitting type, no other NOT NULL column without
 * a default, a unique index on the id column alone (ON CONFLICT needs it), INSERT on the table and TEMPORARY
 * on the database. Problems fail with every mismatch and what to fix; nothing is written.
 */
export const checkSink = (pool: pg.Pool, target: Target, settings: CheckSettings): Effect.Effect<ReadonlyArray<string>, SinkError> =>
  Effect.gen(function* () {
    const select = <R extends object>(sql: string, params: ReadonlyArray<unknown>, doing: string) =>
      Effect.tryPromise({
        try: () => pool.query(sql, params as Array<unknown>).then((result) => result.rows as Array<R>),
        catch: (error) => classify(error, target, doing)
      })
    const facts: Array<string> = []
    const [about] = yield* select<{ version: string; user: string; temp: boolean }>(
      "SELECT current_setting('server_version') AS version, current_user AS user, has_database_privilege(current_database(), 'TEMPORARY') AS temp",
      [],
      `connecting to ${target.where}`
    )
    facts.push(`connected to PostgreSQL ${about!.version} at ${target.where} as user "${about!.user}"`)
    if (!about!.temp) {
      return yield* fatal(`user "${about!.user}" may not create temporary tables in ${target.database}, which each batch stages in; GRANT TEMPORARY ON DATABASE ${quoteIdentifier(target.database)} TO ${quoteIdentifier(about!.user)}`)
    }
    const [schema] = yield* select<{ create: boolean }>(
      "SELECT has_schema_privilege(oid, 'CREATE') AS create FROM pg_namespace WHERE nspname = $1",
      [settings.schema],
      "looking up the schema"
    )
    if (schema === undefined) {
      return yield* fatal(`the schema "${settings.schema}" does not exist in ${target.database} on ${target.where}; CREATE SCHEMA ${quoteIdentifier(settings.schema)}, or fix the sink's schema`)
    }
    const [table] = yield* select<{ oid: number; kind: string; insert: boolean }>(
      "SELECT c.oid, c.relkind AS kind, has_table_privilege(c.oid, 'INSERT') AS insert FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
      [settings.schema, settings.table],
      "looking up the table"
    )
    const name = qualifiedName(settings)
    if (table === undefined) {
      if (!settings.createTable) {
        return yield* fatal(`the table ${target.table} does not exist in ${target.database} on ${target.where}; create it (see the README's DDL), set createTable: true, or fix the sink's schema and table`)
      }
      if (!schema.create) {
        return yield* fatal(`the table ${target.table} does not exist and user "${about!.user}" may not create it; GRANT CREATE ON SCHEMA ${quoteIdentifier(settings.schema)} TO ${quoteIdentifier(about!.user)}, or create the table (see the README's DDL)`)
      }
      facts.push(`table ${target.table} does not exist yet: the first write creates it (id uuid primary key, timestamptz, jsonb)`)
      return facts
    }
    if (table.kind !== "r" && table.kind !== "p") {
      return yield* fatal(`${target.table} is not a table (pg_class.relkind ${table.kind}); point the sink at a table`)
    }
    const columns = yield* select<{ name: string; type: string; notnull: boolean; hasdefault: boolean; attnum: number }>(
      "SELECT attname AS name, format_type(atttypid, atttypmod) AS type, attnotnull AS notnull, atthasdef OR attidentity <> '' OR attgenerated <> '' AS hasdefault, attnum FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped",
      [table.oid],
      "reading the table's columns"
    )
    const byName = new Map(columns.map((column) => [column.name, column]))
    const problems: Array<string> = []
    for (const { column, target: columnName } of settings.plan.columns) {
      const found = byName.get(columnName)
      if (found === undefined) {
        problems.push(`column ${columnName} is missing: ALTER TABLE ${name} ADD COLUMN ${quoteIdentifier(columnName)} ..., rename it with columns.${column.name}: <its name>, or leave it out with columns.${column.name}: false`)
        continue
      }
      const problem = typeProblem(column, columnName, found.type)
      if (problem !== undefined) problems.push(problem)
    }
    const written = new Set(settings.plan.columns.map((c) => c.target))
    for (const column of columns) {
      if (column.notnull && !column.hasdefault && !written.has(column.name)) {
        problems.push(`column ${column.name} is NOT NULL without a default and this sink does not write it; give it a DEFAULT or drop NOT NULL`)
      }
    }
    const idName = settings.plan.columns.find((c) => c.column.name === "id")!.target
    const idColumn = byName.get(idName)
    if (idColumn !== undefined) {
      const unique = yield* select<{ found: boolean }>(
        "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = $1 AND indisunique AND indisvalid AND indnkeyatts = 1 AND indkey[0] = $2 AND indpred IS NULL) AS found",
        [table.oid, idColumn.attnum],
        "reading the table's indexes"
      )
      if (unique[0]?.found !== true) {
        problems.push(`column ${idName} has no unique index of its own, which ON CONFLICT (${idName}) needs for exactly once; ALTER TABLE ${name} ADD PRIMARY KEY (${quoteIdentifier(idName)})`)
      }
    }
    if (problems.length > 0) {
      return yield* fatal(`${target.table} in ${target.database} on ${target.where} does not fit what this sink writes: ${problems.join("; ")}`)
    }
    facts.push(`table ${target.table} has every column this sink writes, with fitting types, and a unique index on ${idName}: a batch written twice adds nothing`)
    if (!table.insert) {
      return yield* fatal(`user "${about!.user}" may not insert into ${target.table}; GRANT INSERT ON ${name} TO ${quoteIdentifier(about!.user)}`)
    }
    facts.push(`user "${about!.user}" may insert into ${target.table} and stage batches in temporary tables`)
    return facts
  })
