// What the late-row check costs on PostgreSQL: a million FeatBit rows in the hour behind the cursor (all of
// them inside the default lateWindow), read once through the source; then passes that find nothing new (one
// grouped count over the index), and passes after 100 late rows landed in that hour (the count, then a read
// narrowed on xmin). Needs the built packages (pnpm run build) and the local server.
//   node packages/source-postgres/bench/late.mjs [rows]        (default 1000000)
import { describeLateCheck, measureLateCheck } from "@featbit-export/testkit/measure"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import pg from "pg"
import { PostgresSource } from "../dist/index.js"

const ROWS = Number(process.argv[2] ?? 1_000_000)
const HOST = process.env.PGHOST_BENCH ?? "localhost"
const name = `fbx_late_${process.pid}_${Date.now().toString(36)}`

const admin = new pg.Client({ host: HOST, user: "postgres", database: "postgres" })
await admin.connect()
await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`)
const db = new pg.Pool({ host: HOST, user: "postgres", database: name, max: 2 })
try {
  await db.query(`CREATE TABLE events (id UUID PRIMARY KEY, distinct_id VARCHAR NOT NULL, env_id VARCHAR, event VARCHAR, properties JSONB, timestamp TIMESTAMP NOT NULL)`)
  await db.query(`CREATE INDEX idx_events_combined ON events (distinct_id, event, env_id, timestamp)`)
  await db.query(`CREATE INDEX idx_events_timestamp_id ON events ("timestamp", id)`)
  const insert = async (rows) => {
    for (let start = 0; start < rows.length; start += 5000) {
      const chunk = rows.slice(start, start + 5000)
      await db.query(
        `INSERT INTO events (id, distinct_id, env_id, event, properties, timestamp)
         SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::varchar[], $5::jsonb[], $6::timestamp[])`,
        [chunk.map((r) => r.id), chunk.map((r) => r.distinctId), chunk.map((r) => r.envId), chunk.map((r) => r.event), chunk.map((r) => r.properties), chunk.map((r) => r.timestamp.slice(0, 10) + " " + r.timestamp.slice(11, 26))]
      )
    }
  }
  let vacuumed = false
  const subject = {
    insert: async (rows) => {
      await insert(rows)
    },
    now: async () => Number((await db.query("SELECT (extract(epoch FROM now()) * 1000)::bigint::text AS now")).rows[0].now),
    open: () => {
      // After the load, as an operator's autovacuum would: index-only scans need the visibility map.
      const ready = vacuumed ? Effect.void : Effect.promise(() => db.query("VACUUM ANALYZE events").then(() => void (vacuumed = true)))
      return Effect.zipRight(ready, PostgresSource.make(Schema.decodeUnknownSync(PostgresSource.config)({ host: HOST, user: "postgres", database: name }), { pipeline: "bench", baseDir: process.cwd() }))
    }
  }
  const cost = await Effect.runPromise(measureLateCheck(subject, { rows: ROWS }))
  console.log(describeLateCheck("postgres", cost))
} finally {
  await db.end()
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
  await admin.end()
}
