import { Timestamp } from "@featbit-export/core"
import { liveConformance } from "@featbit-export/testkit"
import { afterAll } from "vitest"
import { closeEngine, engineFolder, engineNow, freshTable, insertRows, openSource } from "./support/chdb.js"

afterAll(closeEngine)

// FeatBit's events table in an embedded ClickHouse. Rows go in as FeatBit's Kafka engine writes them: with
// `_timestamp` the second they were taken in. The source keeps its own defaults (no lag: 0 here).
liveConformance("clickhouse (chdb)", {
  fresh: async () => {
    const where = await freshTable([])
    let offset = 0
    return {
      traffic: {
        insert: async (rows) => {
          const ingestedAt = Timestamp.fromMillis(await engineNow())
          offset += await insertRows(where, rows.map((row) => ({ ...row, ingestedAt })), offset)
        }
      },
      now: engineNow,
      open: (keys) => openSource({ url: `chdb:${engineFolder()}`, database: where.database, table: where.table, ...keys })
    }
  }
})
