import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import pg from "pg"
import { afterAll, beforeAll } from "vitest"
import { type TestDatabase, createDatabase, freshSchema, installTrigger, openSink, sinkConfig } from "./support.js"

let db: TestDatabase
beforeAll(async () => {
  db = await createDatabase("sinkconf")
})
afterAll(async () => {
  await db.drop()
})

// Against the real server: the transient fault is a serialization failure (40001) the table's own trigger
// raises for the next n inserts, the fatal one the table dropped under the sink (42P01), the poison an id that
// is not a uuid (22P02, refused by COPY at its line).
sinkConformance("postgres", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.gen(function* () {
      const schema = yield* Effect.promise(() => freshSchema(db))
      const s = pg.escapeIdentifier(schema)
      yield* Effect.promise(() =>
        installTrigger(db, schema, `IF seen <= (SELECT n FROM ${s}.fault_until) THEN RAISE EXCEPTION 'injected conflict' USING ERRCODE = '40001'; END IF;`)
      )
      const sink = yield* openSink(sinkConfig(db, schema, { createTable: false }))
      return {
        sink,
        delivered: () =>
          Effect.promise(() => db.pool.query<{ id: string }>(`SELECT id::text AS id FROM ${s}.featbit_events`)).pipe(Effect.map((result) => result.rows.map((row) => row.id))),
        injectTransient: (times: number) =>
          Effect.promise(async () => {
            await db.pool.query(`SELECT setval('${schema}.faults', 1, false)`)
            await db.pool.query(`UPDATE ${s}.fault_until SET n = $1`, [times])
          }),
        injectFatal: () => Effect.promise(() => db.pool.query(`DROP TABLE ${s}.featbit_events CASCADE`)).pipe(Effect.asVoid),
        poison: (event) => ({ ...event, id: "not-a-uuid" })
      }
    })
})
