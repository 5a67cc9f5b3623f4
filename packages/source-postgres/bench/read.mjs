// Throughput of the postgres source against a bare pg keyset-paged read of the same rows, same page size,
// in the same run, alternating, median of 3. Needs the built package (pnpm run build) and the local server.
//   node packages/source-postgres/bench/read.mjs [rows] [pageSize]
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import pg from "pg"
import { PostgresSource } from "../dist/index.js"

const ROWS = Number(process.argv[2] ?? 200_000)
const PAGE = Number(process.argv[3] ?? 1_000)
const HOST = process.env.PGHOST_BENCH ?? "localhost"
const name = `fbx_bench_${process.pid}_${Date.now().toString(36)}`

const admin = new pg.Client({ host: HOST, user: "postgres", database: "postgres" })
await admin.connect()
await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`)
const db = new pg.Client({ host: HOST, user: "postgres", database: name })
await db.connect()

try {
  await db.query(
    `CREATE TABLE events (id UUID PRIMARY KEY, distinct_id VARCHAR NOT NULL, env_id VARCHAR, event VARCHAR, properties JSONB, timestamp TIMESTAMP NOT NULL)`
  )
  await db.query(`CREATE INDEX idx_events_combined ON events (distinct_id, event, env_id, timestamp)`)
  // FeatBit's two shapes, half each; ~10 rows per millisecond, so many share a timestamp.
  await db.query(
    `INSERT INTO events
     SELECT gen_random_uuid(),
            CASE WHEN g % 2 = 0 THEN 'env-a-flag-' || (g % 50) ELSE 'checkout' END,
            'env-a',
            CASE WHEN g % 2 = 0 THEN 'FlagValue' ELSE 'CustomEvent' END,
            CASE WHEN g % 2 = 0 THEN jsonb_build_object(
                   'route', '/Variation/GetMultiOptionVariation', 'flagId', 'env-a-flag-' || (g % 50), 'envId', 'env-a',
                   'accountId', '', 'projectId', '', 'featureFlagKey', 'flag-' || (g % 50), 'sendToExperiment', true,
                   'userKeyId', 'user-' || (g % 1000), 'userName', 'User ' || (g % 1000),
                   'variationId', '7e03db60-7605-4428-a972-aa3b66a3f898', 'tag_0', 'user-' || (g % 1000),
                   'tag_1', '7e03db60-7605-4428-a972-aa3b66a3f898', 'tag_2', 'true', 'tag_3', 'User ' || (g % 1000))
                 ELSE jsonb_build_object(
                   'route', 'index/metric', 'type', 'CustomEvent', 'eventName', 'checkout', 'numericValue', g % 7,
                   'user', jsonb_build_object('keyId', 'user-' || (g % 1000), 'name', 'User ' || (g % 1000)),
                   'applicationType', 'dotnet-server-side', 'projectId', '', 'envId', 'env-a', 'accountId', '',
                   'tag_0', 'user-' || (g % 1000), 'tag_1', (g % 7)::text, 'tag_2', 'User ' || (g % 1000))
            END,
            timestamp '2025-06-01' + (g / 10) * interval '1 millisecond'
       FROM generate_series(1, $1::int) AS g`,
    [ROWS]
  )
  // The index check advises for these reads.
  await db.query(`CREATE INDEX idx_events_timestamp_id ON events ("timestamp", id)`)
  await db.query("VACUUM ANALYZE events")

  const config = Schema.decodeUnknownSync(PostgresSource.config)({ host: HOST, user: "postgres", database: name, lag: 0, batchSize: PAGE })

  const viaSource = () =>
    Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const source = yield* PostgresSource.make(config, { pipeline: "bench", baseDir: process.cwd() })
          return yield* source.read(undefined, { pageSize: PAGE }).pipe(Stream.runFold(0, (n, page) => n + page.events.length + page.rejected.length))
        })
      )
    )

  // The bare read: the same rows, keyset pages on (timestamp, id), properties parsed by pg, nothing decoded.
  const bare = async () => {
    const client = new pg.Client({ host: HOST, user: "postgres", database: name })
    await client.connect()
    let n = 0
    let after
    for (;;) {
      const { rows } =
        after === undefined
          ? await client.query(
              `SELECT id::text AS id, distinct_id, env_id, event, properties, to_char(timestamp, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts, timestamp AS t FROM events ORDER BY timestamp, id LIMIT $1`,
              [PAGE]
            )
          : await client.query(
              `SELECT id::text AS id, distinct_id, env_id, event, properties, to_char(timestamp, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts, timestamp AS t FROM events WHERE (timestamp, id) > ($2::timestamp, $3::uuid) ORDER BY timestamp, id LIMIT $1`,
              [PAGE, after.ts.slice(0, 10) + " " + after.ts.slice(11, 26), after.id]
            )
      n += rows.length
      if (rows.length < PAGE) break
      after = rows[rows.length - 1]
    }
    await client.end()
    return n
  }

  const timed = async (f) => {
    const start = performance.now()
    const n = await f()
    const ms = performance.now() - start
    if (n !== ROWS) throw new Error(`read ${n} rows, expected ${ROWS}`)
    return (n / ms) * 1000
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

  await timed(viaSource) // warm-up: JIT, buffers
  await timed(bare)
  const source = []
  const baseline = []
  for (let i = 0; i < 3; i++) {
    source.push(await timed(viaSource))
    baseline.push(await timed(bare))
  }
  const s = median(source)
  const b = median(baseline)
  const fmt = (x) => Math.round(x).toLocaleString("en-US")
  console.log(`postgres source read: ${ROWS.toLocaleString("en-US")} rows, pages of ${PAGE}`)
  console.log(`  source (decoded ExportEvents): ${source.map(fmt).join(", ")} rows/s; median ${fmt(s)}`)
  console.log(`  bare pg keyset read:           ${baseline.map(fmt).join(", ")} rows/s; median ${fmt(b)}`)
  console.log(`  ratio source/bare: ${(s / b).toFixed(2)} (aim >= 0.8)`)
} finally {
  await db.end()
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
  await admin.end()
}
