// Tests run against the real PostgreSQL server these machines start (localhost:5432, trust auth); each file
// creates its own database and drops it at the end, each test its own schema.
import { type ExportEvent, type PluginContext, type Sink, type SinkError, Timestamp, decodeFeatBitRow, planColumns } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { PostgresSink, createTableSql } from "@featbit-export/sink-postgres"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import pg from "pg"
import { HOST, PORT, type TestDatabase, createDatabase, uniqueName } from "../../source-postgres/test/support/pg.js"

export { type TestDatabase, createDatabase, uniqueName }

export const context: PluginContext = { pipeline: "test", baseDir: "/" }

/** Production-shaped events: thousands of users, stamped from an hour ago. */
export const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed, start: Timestamp.fromMillis(Date.now() - 3_600_000) })].flatMap((row) =>
    Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (event) => [event] })
  )

/** A fresh schema in the test database, holding the sink's own table unless `create` is false. */
export const freshSchema = async (db: TestDatabase, create = true): Promise<string> => {
  const schema = uniqueName("s")
  await db.pool.query(`CREATE SCHEMA ${pg.escapeIdentifier(schema)}`)
  if (create) for (const statement of createTableSql({ schema, table: "featbit_events" }, planColumns(undefined))) await db.pool.query(statement)
  return schema
}

export const sinkConfig = (db: TestDatabase, schema: string, more: Record<string, unknown> = {}) => ({
  host: HOST,
  port: PORT,
  user: "postgres",
  database: db.name,
  schema,
  ...more
})

export const openSink = (config: Record<string, unknown>): Effect.Effect<Sink, SinkError, Scope.Scope> =>
  Effect.flatMap(Effect.orDie(Schema.decodeUnknown(PostgresSink.config)(config)), (decoded) => PostgresSink.make(decoded, context))

export const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))

export const counts = async (db: TestDatabase, schema: string): Promise<{ rows: number; ids: number }> => {
  const result = await db.pool.query<{ rows: string; ids: string }>(
    `SELECT count(*) AS rows, count(DISTINCT id) AS ids FROM ${pg.escapeIdentifier(schema)}.featbit_events`
  )
  return { rows: Number(result.rows[0]!.rows), ids: Number(result.rows[0]!.ids) }
}

/**
 * A statement-level trigger on the table that runs `body` (plpgsql) for the n-th INSERT onwards as the
 * sequence `<schema>.faults` counts them: the server itself fails or stalls a write, as in production.
 */
export const installTrigger = async (db: TestDatabase, schema: string, body: string): Promise<void> => {
  const s = pg.escapeIdentifier(schema)
  await db.pool.query(`CREATE SEQUENCE ${s}.faults`)
  await db.pool.query(`CREATE TABLE ${s}.fault_until (n bigint NOT NULL)`)
  await db.pool.query(`INSERT INTO ${s}.fault_until VALUES (0)`)
  await db.pool.query(
    `CREATE FUNCTION ${s}.fault() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE seen bigint := nextval('${schema}.faults'); BEGIN ${body} RETURN NULL; END $$`
  )
  await db.pool.query(`CREATE TRIGGER fault BEFORE INSERT ON ${s}.featbit_events FOR EACH STATEMENT EXECUTE FUNCTION ${s}.fault()`)
}
