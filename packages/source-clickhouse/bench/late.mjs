// What the late-row check costs on ClickHouse (embedded, chDB): a million FeatBit rows in the hour behind the
// cursor (all of them inside the default lateWindow), read once through the source; then passes that find
// nothing new (one grouped count), and passes after 100 late rows landed in that hour (the count, then a
// read narrowed on _timestamp). Build first (pnpm run build), then:
//   node packages/source-clickhouse/bench/late.mjs [rows]        (default 1000000)
import { ClickHouseLogLevel, createClient } from "@clickhouse/client"
import { describeLateCheck, measureLateCheck } from "@featbit-export/testkit/measure"
import { createChdbConnection } from "chdb/connection"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ClickHouseSource, createFeatBitEventsTable, insertFeatBitRows } from "../dist/index.js"

const ROWS = Number(process.argv[2] ?? 1_000_000)
const folder = mkdtempSync(join(tmpdir(), "featbit-export-late-"))
const client = createClient({ connection: createChdbConnection({ path: folder }), log: { level: ClickHouseLogLevel.OFF } })
const now = async () => {
  const result = await client.query({ query: "SELECT toString(now64(6), 'UTC') AS now", format: "JSONEachRow" })
  const [row] = await result.json()
  return Date.parse(row.now.replace(" ", "T").slice(0, 23) + "Z")
}
try {
  await createFeatBitEventsTable(client, { database: "bench" })
  let offset = 0
  const subject = {
    // As FeatBit's Kafka engine writes them: _timestamp is the second a row came in (ingestedAt).
    insert: async (rows) => {
      offset += await insertFeatBitRows(client, rows, { database: "bench", firstOffset: offset })
    },
    now,
    open: () => ClickHouseSource.make(Schema.decodeUnknownSync(ClickHouseSource.config)({ url: `chdb:${folder}`, database: "bench" }), { pipeline: "bench", baseDir: folder })
  }
  const cost = await Effect.runPromise(measureLateCheck(subject, { rows: ROWS }))
  console.log(describeLateCheck("clickhouse (chDB)", cost))
} finally {
  await client.close()
  rmSync(folder, { recursive: true, force: true })
}
