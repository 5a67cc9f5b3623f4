import { sourceConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll } from "vitest"
import { type TestDatabase, createDatabase, createEventsTable, insertRows, openSource, sourceConfig, uniqueName } from "./support/pg.js"

let db: TestDatabase
beforeAll(async () => {
  db = await createDatabase("conf")
})
afterAll(async () => {
  await db.drop()
})

// Each case gets a fresh schema holding FeatBit's events table (FeatBit's DDL) in the real PostgreSQL server;
// the rows go in with properties::jsonb, and the source reads them through the real pg driver.
sourceConformance("postgres", {
  make: (rows) =>
    Effect.gen(function* () {
      const schema = uniqueName("s")
      yield* Effect.promise(async () => {
        const quoted = await createEventsTable(db, schema)
        await insertRows(db, quoted, rows)
      })
      return yield* openSource(sourceConfig(db, schema))
    })
})
