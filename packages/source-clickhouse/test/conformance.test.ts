import { sourceConformance } from "@featbit-export/testkit"
import { afterAll } from "vitest"
import { closeEngine, freshTable, openChdbSource } from "./support/chdb.js"
import * as Effect from "effect/Effect"

afterAll(closeEngine)

// The rows go into a real FeatBit events table (FeatBit's DDL, MergeTree) in an embedded ClickHouse, and
// the source reads them through the real @clickhouse/client.
sourceConformance("clickhouse (chdb)", {
  make: (rows) => Effect.flatMap(Effect.promise(() => freshTable(rows)), (where) => openChdbSource(where))
})
