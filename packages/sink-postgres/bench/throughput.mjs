// Sink throughput into the local PostgreSQL (localhost:5432, trust auth) against a bare COPY of the same rows
// (the COPY text already encoded with the sink's copyLine, outside the timer) straight into a table of the same
// shape (the sink's createTableSql), in the same run and the same database: batches of 5,000 production-shaped
// events (generate source, starting an hour ago), one at a time for both, median of 5 rounds, alternating.
// The sink's extra work is encoding each row, the temporary staging table and INSERT ... ON CONFLICT (id) DO NOTHING
// in one transaction. Exits 1 when the ratio sink/bare is under 0.7.
//   node packages/sink-postgres/bench/throughput.mjs [events=100000]
// Build first: npx tsc -b packages/sink-postgres/tsconfig.json (at the root).
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import { Readable } from "node:stream"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Timestamp, decodeFeatBitRow, planColumns } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { pairedRounds } from "@featbit-export/testkit/bench"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import pg from "pg"
import copyStreams from "pg-copy-streams"

const here = path.dirname(fileURLToPath(import.meta.url))
const { PostgresSink, copyLine, createTableSql } = await import(pathToFileURL(path.join(here, "..", "dist", "index.js")).href)

const count = Number(process.argv[2] ?? 100_000)
const batchSize = 5_000
const rounds = 5
const HOST = process.env["PGHOST_TEST"] ?? "localhost"
const database = `fbx_bench_sink_${process.pid}_${Date.now().toString(36)}`

const admin = async (sql) => {
  const client = new pg.Client({ host: HOST, port: 5432, user: "postgres", database: "postgres" })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

const start = Timestamp.fromMillis(Date.now() - 3_600_000)
const events = [...generateRows({ count, seed: 1, start })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))
const batches = []
for (let i = 0; i < events.length; i += batchSize) batches.push({ events: events.slice(i, i + batchSize), sequence: i / batchSize })
const plan = planColumns(undefined)
const copyPages = batches.map((batch) => batch.events.map((event) => copyLine(plan, event).line).join(""))
const columnList = plan.columns.map(({ target }) => pg.escapeIdentifier(target)).join(", ")

await admin(`CREATE DATABASE ${pg.escapeIdentifier(database)}`)
const client = new pg.Client({ host: HOST, port: 5432, user: "postgres", database })
let failed = false
try {
  await client.connect()
  const fresh = async (table) => {
    await client.query(`DROP TABLE IF EXISTS public.${pg.escapeIdentifier(table)}`)
    for (const sql of createTableSql({ schema: "public", table }, plan)) await client.query(sql)
  }
  const config = Schema.decodeUnknownSync(PostgresSink.config)({ host: HOST, port: 5432, user: "postgres", database, table: "sink", createTable: false })

  const runSink = async () => {
    await fresh("sink")
    const started = performance.now()
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const sink = yield* PostgresSink.make(config, { pipeline: "bench", baseDir: here })
          for (const batch of batches) yield* sink.write(batch)
        })
      )
    )
    return performance.now() - started
  }
  const runPlain = async () => {
    await fresh("plain")
    const started = performance.now()
    for (const text of copyPages) {
      await pipeline(Readable.from([text]), client.query(copyStreams.from(`COPY public.plain (${columnList}) FROM STDIN`)))
    }
    return performance.now() - started
  }
  const countOf = async (table) => Number((await client.query(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM public.${pg.escapeIdentifier(table)}`)).rows[0].n)

  const timings = await pairedRounds({ rounds, subject: runSink, baseline: runPlain })
  if ((await countOf("sink")) !== events.length || (await countOf("plain")) !== events.length) throw new Error("a run did not store every event")
  const rate = (ms) => Math.round(events.length / (ms / 1000))
  const { ratio } = timings
  console.log(
    `sink-postgres throughput: ${events.length} events, batches of ${batchSize}, one at a time, median of ${rounds}: sink ${rate(timings.subjectMedianMs)} ev/s, bare COPY ${rate(timings.baselineMedianMs)} ev/s, ratio ${ratio.toFixed(2)} (target >= 0.7) [sink ms ${timings.subjectMs.map(Math.round).join("/")}, bare ms ${timings.baselineMs.map(Math.round).join("/")}]`
  )
  failed = ratio < 0.7
} finally {
  await client.end().catch(() => {})
  await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`)
}
if (failed) {
  console.error("sink-postgres throughput: the sink is under 0.7 of a bare COPY")
  process.exitCode = 1
}
