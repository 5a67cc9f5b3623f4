import type { Sink } from "@featbit-export/core"
import { makeRecordingSink, makeTestStores, runOnce } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type TestDatabase, at, createDatabase, createEventsTable, insertRows, metricRow, openSource, run, sortByKey, sourceConfig, uniqueName } from "./support/pg.js"

let db: TestDatabase
beforeAll(async () => {
  db = await createDatabase("term")
})
afterAll(async () => {
  await db.drop()
})

it("survives pg_terminate_backend of its connection mid-export: nothing lost, nothing repeated", async () => {
  const rows = sortByKey(Array.from({ length: 1200 }, (_, i) => metricRow(at(Math.floor(i / 3)), i)))
  const schema = uniqueName("s")
  await insertRows(db, await createEventsTable(db, schema), rows)

  const recording = makeRecordingSink()
  const terminated: Array<number> = []
  // When batch 2 arrives, a second connection kills every backend the source holds (it names itself
  // featbit-export); the source's next page must come from a fresh connection, or be read again.
  const sink: Sink = {
    write: (batch) =>
      Effect.flatMap(
        batch.sequence === 2 || batch.sequence === 7
          ? Effect.promise(async () => {
              // Two steps: in one WHERE the planner may call pg_terminate_backend before the other conditions.
              const found = await db.pool.query<{ pid: number }>(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'featbit-export' AND pid <> pg_backend_pid()",
                [db.name]
              )
              let killed = 0
              for (const { pid } of found.rows) {
                const result = await db.pool.query<{ ok: boolean }>("SELECT pg_terminate_backend($1) AS ok", [pid])
                if (result.rows[0]?.ok === true) killed += 1
              }
              terminated.push(killed)
            })
          : Effect.void,
        () => recording.write(batch)
      )
  }
  const stores = makeTestStores()
  const summary = await run(Effect.flatMap(openSource(sourceConfig(db, schema)), (source) => runOnce(source, sink, stores, { batchSize: 100 })))

  expect(terminated.length).toBe(2)
  expect(terminated.every((n) => n >= 1)).toBe(true)
  const delivered = recording.delivered.map((event) => event.id)
  expect(new Set(delivered).size).toBe(delivered.length)
  // Batches are written concurrently (and batch 2 waits for the termination), so compare as sets.
  expect([...delivered].sort()).toEqual(rows.map((row) => row.id).sort())
  expect(summary.exported).toBe(1200)
  expect(stores.checkpoints.get("test")!.cursor).toEqual({ timestamp: rows[1199]!.timestamp, id: rows[1199]!.id })
})
