import { liveConformance } from "@featbit-export/testkit"
import { afterAll, beforeAll } from "vitest"
import { HOST, PORT, ADMIN_USER, type TestDatabase, createDatabase, createEventsTable, indexForKeyset, insertRows, openSource, serverNow, uniqueName } from "./support/pg.js"

let db: TestDatabase
beforeAll(async () => {
  db = await createDatabase("live")
})
afterAll(async () => {
  await db.drop()
})

// FeatBit's events table (with the index `check` advises) in the real server; rows go in as FeatBit's
// InsightsWriter writes them, and the source keeps only its own defaults (no lag: 0 here).
liveConformance("postgres", {
  fresh: async () => {
    const schema = uniqueName("s")
    const quoted = await createEventsTable(db, schema)
    await indexForKeyset(db, quoted)
    return {
      traffic: { insert: (rows) => insertRows(db, quoted, rows) },
      now: () => serverNow(db),
      open: (keys) => openSource({ host: HOST, port: PORT, user: ADMIN_USER, database: db.name, schema, ...keys })
    }
  }
})
