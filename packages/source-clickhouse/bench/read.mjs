// Read throughput of the clickhouse source against an embedded ClickHouse (chDB), and its memory bound.
// Build first (npx tsc -b tsconfig.json at the repository root), then:
//   node packages/source-clickhouse/bench/read.mjs [rows]        (default 200000)
//
// 1. Inserts `rows` FeatBit rows (generateRows) into FeatBit's events table in a fresh chDB folder.
// 2. For page sizes 1k, 5k and 10k, three rounds, alternating:
//    (a) the source: rows decoded into canonical events per second through `read`;
//    (b) a bare @clickhouse/client keyset-paged read of the same rows with the same page size
//        (ORDER BY timestamp, toString(uuid) LIMIT n; JSONEachRow) that only JSON.parses the properties;
//    (c) the same queries the source sent in (a), replayed by a bare client that only parses them:
//        the source's cost beyond its SQL.
//    It prints the medians and the ratios a/b and a/c.
// 3. Peak RSS (process.resourceUsage().maxRSS) of child processes that read 100k and 300k rows through the
//    source, each from a table of its own: it must follow the page size, not the row count.
import { ClickHouseLogLevel, createClient } from "@clickhouse/client"
import { generateRows } from "@featbit-export/source-generate"
import { createChdbConnection } from "chdb/connection"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ClickHouseSource, createFeatBitEventsTable, insertFeatBitRows } from "../dist/index.js"

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const fmt = (n) => Math.round(n).toLocaleString("en")
const openClient = (folder) => createClient({ connection: createChdbConnection({ path: folder }), log: { level: ClickHouseLogLevel.OFF } })

/** Reads every row of `database.events` through the source; returns [events, rejected]. */
const readThroughSource = (folder, database, pageSize, onPage = () => {}) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const config = Schema.decodeUnknownSync(ClickHouseSource.config)({ url: `chdb:${folder}`, database, lag: 0, batchSize: pageSize })
        const source = yield* ClickHouseSource.make(config, { pipeline: "bench", baseDir: folder })
        let events = 0
        let rejected = 0
        yield* source.read(undefined, { pageSize }).pipe(
          Stream.runForEach((page) =>
            Effect.sync(() => {
              events += page.events.length
              rejected += page.rejected.length
              onPage()
            })
          )
        )
        return [events, rejected]
      })
    )
  )

// --- child mode: peak RSS of one read -------------------------------------------------------------------
if (process.argv[2] === "--rss") {
  const [, , , folder, database, pageSize] = process.argv
  const before = process.resourceUsage().maxRSS
  let heapPeak = 0
  const [events] = await readThroughSource(folder, database, Number(pageSize), () => {
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed)
  })
  console.log(JSON.stringify({ events, maxRssKiB: process.resourceUsage().maxRSS, beforeKiB: before, heapPeakBytes: heapPeak }))
  process.exit(0)
}

const rows = Number(process.argv[2] ?? 200_000)
const pageSizes = [1000, 5000, 10000]
const folder = mkdtempSync(join(tmpdir(), "featbit-export-bench-"))
const client = openClient(folder)

try {
  let started = performance.now()
  await createFeatBitEventsTable(client, { database: "featbit" })
  await insertFeatBitRows(client, generateRows({ count: rows, seed: 1 }), { database: "featbit" })
  console.log(`inserted ${fmt(rows)} rows into chDB in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  // (b) the bare keyset-paged read.
  const bare = async (pageSize) => {
    const sql =
      "SELECT toString(uuid) AS id, distinct_id, env_id, event, properties, toString(timestamp) AS ts, toString(_timestamp, 'UTC') AS ingested " +
      "FROM featbit.events WHERE timestamp >= {cts:DateTime64(6, 'UTC')} AND (timestamp > {cts:DateTime64(6, 'UTC')} OR toString(uuid) > {cid:String}) " +
      "ORDER BY timestamp, toString(uuid) LIMIT {limit:UInt32}"
    let cursor = { cts: "1970-01-01 00:00:00.000000", cid: "" }
    let count = 0
    for (;;) {
      const result = await client.query({ query: sql, format: "JSONEachRow", query_params: { ...cursor, limit: pageSize } })
      let last
      let n = 0
      for await (const batch of result.stream()) {
        for (const row of batch) {
          last = row.json()
          JSON.parse(last.properties)
          n++
        }
      }
      count += n
      if (n < pageSize) return count
      cursor = { cts: last.ts, cid: last.id }
    }
  }

  // (c) replays recorded queries with a bare parse. Recording wraps the client class the source uses.
  let recording
  // createClient builds the common client class (not the exported Node subclass): patch that one.
  const clientClass = Object.getPrototypeOf(client)
  const query = clientClass.query
  clientClass.query = function (params) {
    recording?.push({ query: params.query, format: params.format, query_params: params.query_params })
    return query.call(this, params)
  }
  const replay = async (queries) => {
    let count = 0
    for (const q of queries) {
      const document = JSON.parse(await (await client.query(q)).text())
      if (q.query.includes("ORDER BY")) {
        for (const row of document.data) JSON.parse(row[4])
        count += document.data.length
      }
    }
    return count
  }

  const timed = async (work) => {
    const t = performance.now()
    const count = await work()
    return { count, rate: count / ((performance.now() - t) / 1000) }
  }

  const results = []
  for (const pageSize of pageSizes) {
    const a = []
    const b = []
    const c = []
    for (let round = 0; round < 3; round++) {
      recording = []
      const viaSource = await timed(async () => {
        const [events, rejected] = await readThroughSource(folder, "featbit", pageSize)
        if (events + rejected !== rows) throw new Error(`the source read ${events + rejected} rows, not ${rows}`)
        return events
      })
      const queries = recording
      recording = undefined
      const viaBare = await timed(() => bare(pageSize))
      if (viaBare.count !== rows) throw new Error(`the bare read got ${viaBare.count} rows`)
      const viaReplay = await timed(() => replay(queries))
      if (viaReplay.count !== rows) throw new Error(`the replay got ${viaReplay.count} rows`)
      a.push(viaSource.rate)
      b.push(viaBare.rate)
      c.push(viaReplay.rate)
      if (round === 0) console.log(`page ${pageSize}: the source sent ${queries.length} queries (${queries.filter((q) => q.query.includes("ORDER BY")).length} page queries)`)
    }
    results.push({ pageSize, source: median(a), bare: median(b), replay: median(c) })
  }
  clientClass.query = query

  console.log("\nrows/s, median of 3 (alternating runs)")
  console.log("page size | source (a) | bare keyset read (b) | a/b  | same queries, bare parse (c) | a/c")
  for (const r of results) {
    console.log(
      `${String(r.pageSize).padStart(9)} | ${fmt(r.source).padStart(10)} | ${fmt(r.bare).padStart(20)} | ${(r.source / r.bare).toFixed(2)} | ${fmt(r.replay).padStart(28)} | ${(r.source / r.replay).toFixed(2)}`
    )
  }

  // --- memory: separate processes, tables of 100k and 300k rows -------------------------------------------
  started = performance.now()
  await createFeatBitEventsTable(client, { database: "rss_small" })
  await insertFeatBitRows(client, generateRows({ count: 100_000, seed: 2 }), { database: "rss_small" })
  await createFeatBitEventsTable(client, { database: "rss_large" })
  await insertFeatBitRows(client, generateRows({ count: 300_000, seed: 3 }), { database: "rss_large" })
  console.log(`\ninserted 100k + 300k rows for the memory runs in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  await client.close() // chDB locks its folder: the children open it one at a time
  const self = fileURLToPath(import.meta.url)
  console.log("a child process per run reads every row of its table through the source:")
  for (const pageSize of ["1000", "10000"]) {
    for (const database of ["rss_small", "rss_large"]) {
      const out = JSON.parse(execFileSync(process.execPath, [self, "--rss", folder, database, pageSize], { encoding: "utf8" }).trim().split("\n").pop())
      console.log(
        `  page ${pageSize.padStart(5)}, ${fmt(out.events).padStart(7)} rows: peak RSS ${fmt(out.maxRssKiB / 1024)} MiB ` +
          `(${fmt(out.beforeKiB / 1024)} MiB before reading), JS heap at most ${fmt(out.heapPeakBytes / 1048576)} MiB`
      )
    }
  }
} finally {
  await client.close().catch(() => undefined)
  rmSync(folder, { recursive: true, force: true })
}
