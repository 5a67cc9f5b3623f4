import { sinkConformance, startHttpFront, type HttpFront } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { afterAll } from "vitest"
import { closeEngine, createSinkTable, engine, freshDatabase, openSink, rowsOf } from "./support.js"

const fronts: Array<HttpFront> = []
afterAll(async () => {
  for (const front of fronts.splice(0)) await front.close()
  await closeEngine()
})

// Over the real HTTP protocol to the embedded engine: transient faults are the front's 503s, the fatal one is
// a table dropped under the sink (UNKNOWN_TABLE), the poison an id that is not a uuid (CANNOT_PARSE_UUID).
sinkConformance("clickhouse", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.gen(function* () {
      const database = yield* Effect.promise(() => freshDatabase())
      yield* Effect.promise(() => createSinkTable(database))
      const front = yield* Effect.promise(() => startHttpFront({ engine: engine() }))
      fronts.push(front)
      const sink = yield* openSink({ url: front.url, database, createTable: false, requestTimeout: "5s" })
      let failing = 0
      front.fault = (request) => {
        if (failing > 0 && request.sql.startsWith("INSERT")) {
          failing -= 1
          return { kind: "status", status: 503 }
        }
        return undefined
      }
      return {
        sink,
        delivered: () => Effect.promise(() => rowsOf<{ id: string }>(`SELECT toString(id) AS id FROM ${database}.featbit_events`)).pipe(Effect.map((rows) => rows.map((r) => r.id))),
        injectTransient: (times: number) => Effect.sync(() => void (failing = times)),
        injectFatal: () => Effect.promise(() => engine().command({ query: `DROP TABLE ${database}.featbit_events` })).pipe(Effect.asVoid),
        poison: (event) => ({ ...event, id: "not-a-uuid" })
      }
    })
})
