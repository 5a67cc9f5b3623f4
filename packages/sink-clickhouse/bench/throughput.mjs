// Sink throughput into an embedded ClickHouse (chDB) against a bare `client.insert({ format: "JSONEachRow" })`
// of the same rows (already shaped, outside the timer) into a table of the same layout, in the same run and
// the same engine: pages of 10,000 production-shaped events (generate source), 4 at once, median of 5 rounds,
// alternating, the events starting an hour ago. The sink's extra work is shaping each row, the byte bound
// and the dedup token. Exits 1 when the ratio sink/bare is under 0.7.
//   node packages/sink-clickhouse/bench/throughput.mjs [events=100000]
// Build first: npx tsc -b packages/sink-clickhouse (at the root).
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { createClient } from "@clickhouse/client"
import { Timestamp, decodeFeatBitRow, planColumns } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { pairedRounds } from "@featbit-export/testkit/bench"
import { createChdbConnection } from "chdb/connection"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const here = path.dirname(fileURLToPath(import.meta.url))
const { ClickHouseSink, createTableSql, rowObject } = await import(pathToFileURL(path.join(here, "..", "dist", "index.js")).href)

const count = Number(process.argv[2] ?? 100_000)
const pageSize = 10_000
const inFlight = 4
const rounds = 5
const folder = mkdtempSync(path.join(tmpdir(), "featbit-export-bench-ch-"))
const client = createClient({ connection: createChdbConnection({ path: folder }) })

// Production-shaped timestamps: the events start an hour ago.
const start = Timestamp.fromMillis(Date.now() - 3_600_000)
const events = [...generateRows({ count, seed: 1, start })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))
const batches = []
for (let i = 0; i < events.length; i += pageSize) batches.push({ events: events.slice(i, i + pageSize), sequence: i / pageSize })
const plan = planColumns(undefined)
const plainPages = batches.map((batch) => batch.events.map((event) => rowObject(plan, event)))
const users = new Set(events.map((e) => e.user.keyId)).size

await client.command({ query: "CREATE DATABASE IF NOT EXISTS bench" })
const fresh = async (table) => {
  await client.command({ query: `DROP TABLE IF EXISTS bench.${table}` })
  await client.command({ query: createTableSql({ database: "bench", table }, plan, 10_000) })
}
const config = Schema.decodeUnknownSync(ClickHouseSink.config)({ url: `chdb:${folder}`, database: "bench", table: "sink", createTable: false })

const runSink = async () => {
  await fresh("sink")
  const started = performance.now()
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const sink = yield* ClickHouseSink.make(config, { pipeline: "bench", baseDir: here })
        yield* Effect.forEach(batches, (batch) => sink.write(batch), { concurrency: inFlight, discard: true })
      })
    )
  )
  return performance.now() - started
}
const runPlain = async () => {
  await fresh("plain")
  const started = performance.now()
  let next = 0
  const worker = async () => {
    while (next < plainPages.length) {
      const values = plainPages[next++]
      await client.insert({ table: "bench.plain", values, format: "JSONEachRow" })
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker))
  return performance.now() - started
}
const countOf = async (table) => Number(((await (await client.query({ query: `SELECT count() AS n FROM bench.${table}`, format: "JSONEachRow" })).json())[0]).n)

const timings = await pairedRounds({ rounds, subject: runSink, baseline: runPlain })
if ((await countOf("sink")) !== events.length || (await countOf("plain")) !== events.length) throw new Error("a run did not store every event")
const rate = (ms) => Math.round(events.length / (ms / 1000))
const { ratio } = timings
console.log(
  `sink-clickhouse throughput: ${events.length} events (${users} users), pages of ${pageSize}, ${inFlight} in flight, chDB: sink ${rate(timings.subjectMedianMs)} ev/s, bare insert ${rate(timings.baselineMedianMs)} ev/s, ratio ${ratio.toFixed(2)} (target >= 0.7) [sink ms ${timings.subjectMs.map(Math.round).join("/")}, bare ms ${timings.baselineMs.map(Math.round).join("/")}]`
)
await client.close()
rmSync(folder, { recursive: true, force: true })
if (ratio < 0.7) {
  console.error("sink-clickhouse throughput: the sink is under 0.7 of a bare insert")
  process.exitCode = 1
}
