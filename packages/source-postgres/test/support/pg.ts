// Tests run against the real PostgreSQL server these machines start (localhost:5432, trust auth). Every test
// file creates its own database (a unique name per run) and drops it at the end, so files run in parallel.
import { type FeatBitRow, type Source, type SourcePage, Timestamp } from "@featbit-export/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import pg from "pg"
import { PostgresSource, quoteTable } from "../../src/index.js"

export const HOST = process.env["PGHOST_TEST"] ?? "localhost"
export const PORT = 5432
export const ADMIN_USER = "postgres"

let counter = 0
/** A name unique to this process and call: `fbx_<label>_<pid>_<time>_<n>`. */
export const uniqueName = (label: string): string => `fbx_${label}_${process.pid}_${Date.now().toString(36)}_${counter++}`

export interface TestDatabase {
  readonly name: string
  /** A pool on the test database, as the admin user. */
  readonly pool: pg.Pool
  readonly drop: () => Promise<void>
}

const admin = () => new pg.Client({ host: HOST, port: PORT, user: ADMIN_USER, database: "postgres" })

/** Creates a fresh database; `drop` removes it (terminating whatever is still connected). */
export const createDatabase = async (label: string): Promise<TestDatabase> => {
  const name = uniqueName(label)
  const client = admin()
  await client.connect()
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`)
  } finally {
    await client.end()
  }
  const pool = new pg.Pool({ host: HOST, port: PORT, user: ADMIN_USER, database: name, max: 4 })
  pool.on("error", () => {})
  return {
    name,
    pool,
    drop: async () => {
      await pool.end()
      const c = admin()
      await c.connect()
      try {
        await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
      } finally {
        await c.end()
      }
    }
  }
}

/** FeatBit Standard's DDL (modules/data-analytics/app/postgresql/models/event/sql.py) in a given schema. */
export const createEventsTable = async (db: TestDatabase, schema: string, table = "events"): Promise<string> => {
  const quoted = quoteTable(schema, table)
  await db.pool.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`)
  await db.pool.query(
    `CREATE TABLE ${quoted} (id UUID PRIMARY KEY, distinct_id VARCHAR NOT NULL, env_id VARCHAR, event VARCHAR, properties JSONB, timestamp TIMESTAMP NOT NULL)`
  )
  await db.pool.query(`CREATE INDEX ${pg.escapeIdentifier(`idx_${table}_combined`)} ON ${quoted} (distinct_id, event, env_id, timestamp)`)
  return quoted
}

/** The index `check` advises for keyset reads (and the late-row counts). */
export const indexForKeyset = async (db: TestDatabase, quoted: string): Promise<void> => {
  await db.pool.query(`CREATE INDEX ON ${quoted} ("timestamp", id)`)
}

/**
 * Inserts core FeatBitRows: properties given as JSON text go in as jsonb; text that is not JSON (a truncated
 * write) cannot be jsonb, so it is stored as a jsonb string holding that text (still not an object).
 */
export const insertRows = async (db: TestDatabase, quoted: string, rows: ReadonlyArray<FeatBitRow>): Promise<void> => {
  for (let start = 0; start < rows.length; start += 5000) {
    const chunk = rows.slice(start, start + 5000)
    const props = chunk.map((row) => {
      if (typeof row.properties !== "string") return JSON.stringify(row.properties)
      try {
        JSON.parse(row.properties)
        return row.properties
      } catch {
        return JSON.stringify(row.properties)
      }
    })
    await db.pool.query(
      `INSERT INTO ${quoted} (id, distinct_id, env_id, event, properties, timestamp)
       SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::varchar[], $5::jsonb[], $6::timestamp[])`,
      [
        chunk.map((row) => row.id),
        chunk.map((row) => row.distinctId),
        chunk.map((row) => row.envId),
        chunk.map((row) => row.event),
        props,
        chunk.map((row) => row.timestamp.slice(0, 10) + " " + row.timestamp.slice(11, 26))
      ]
    )
  }
}

/** The server's clock in milliseconds (`now()`), the clock the source's horizon follows. */
export const serverNow = async (db: TestDatabase): Promise<number> => {
  const result = await db.pool.query<{ now: string }>("SELECT (extract(epoch FROM now()) * 1000)::bigint::text AS now")
  return Number(result.rows[0]!.now)
}

/** Opens the plugin on a database through its own config schema, as the runner does. */
export const openSource = (config: Record<string, unknown>): Effect.Effect<Source, unknown, Scope.Scope> =>
  Effect.flatMap(Effect.orDie(Schema.decodeUnknown(PostgresSource.config)(config)), (decoded) =>
    PostgresSource.make(decoded, { pipeline: "test", baseDir: process.cwd() })
  )

/** The config of a source reading `schema.table` of a test database with no lag. */
export const sourceConfig = (db: TestDatabase, schema: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  host: HOST,
  port: PORT,
  user: ADMIN_USER,
  database: db.name,
  schema,
  lag: 0,
  ...extra
})

export const readAll = (source: Source, from: Parameters<Source["read"]>[0], pageSize: number) =>
  source.read(from, { pageSize }).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

export const eventIds = (pages: ReadonlyArray<SourcePage>) => pages.flatMap((page) => page.events.map((event) => event.id))

export const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

/** The failure of an effect that must fail. */
export const failure = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>): Promise<unknown> => Effect.runPromise(Effect.scoped(Effect.flip(effect)))

// ---------------------------------------------------------------------------------------------------------
// Rows

const BASE = Date.parse("2025-06-01T00:00:00.000Z")

/** The instant `ms` milliseconds after 2025-06-01T00:00:00Z. */
export const at = (ms: number): Timestamp.Timestamp => Timestamp.fromMillis(BASE + ms)

/** A random lowercase uuid (v4). */
export const uuid = (): string => crypto.randomUUID()

export const flagRow = (timestamp: Timestamp.Timestamp, envId = "env-a", id = uuid()): FeatBitRow => ({
  id,
  distinctId: `${envId}-flag-1`,
  envId,
  event: "FlagValue",
  timestamp,
  properties: JSON.stringify({
    route: "/Variation/GetMultiOptionVariation",
    flagId: `${envId}-flag-1`,
    envId,
    accountId: "",
    projectId: "",
    featureFlagKey: "flag-1",
    sendToExperiment: true,
    userKeyId: "user-1",
    userName: "User One",
    variationId: "7e03db60-7605-4428-a972-aa3b66a3f898",
    tag_0: "user-1",
    tag_1: "7e03db60-7605-4428-a972-aa3b66a3f898",
    tag_2: "true",
    tag_3: "User One"
  })
})

export const metricRow = (timestamp: Timestamp.Timestamp, numericValue: number, envId = "env-a", id = uuid()): FeatBitRow => ({
  id,
  distinctId: "checkout-completed",
  envId,
  event: "CustomEvent",
  timestamp,
  properties: JSON.stringify({
    route: "index/metric",
    type: "CustomEvent",
    eventName: "checkout-completed",
    numericValue,
    user: { keyId: "user-2", name: "User Two" },
    applicationType: "dotnet-server-side",
    projectId: "",
    envId,
    accountId: "",
    tag_0: "user-2",
    tag_1: String(numericValue),
    tag_2: "User Two"
  })
})

/** Rows in Cursor.compare order (timestamp, then id text). */
export const sortByKey = (rows: ReadonlyArray<FeatBitRow>): Array<FeatBitRow> =>
  [...rows].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
