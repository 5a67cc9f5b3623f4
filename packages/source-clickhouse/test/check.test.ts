import type { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { mkdirSync, rmSync } from "node:fs"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { quoteIdentifier } from "../src/index.js"
import { closeEngine, engine, engineFolder, freshTable, openChdbSource, openSource } from "./support/chdb.js"
import { rowsAt, at } from "./support/rows.js"

afterAll(closeEngine)

const check = (effect: Effect.Effect<{ readonly check?: Effect.Effect<ReadonlyArray<string>, SourceError> }, SourceError, Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(effect, (source) => source.check!)))

const checkFailure = (effect: Effect.Effect<{ readonly check?: Effect.Effect<ReadonlyArray<string>, SourceError> }, SourceError, Scope.Scope>) =>
  Effect.runPromise(Effect.scoped(Effect.flip(Effect.flatMap(effect, (source) => source.check!))))

describe("check on an embedded ClickHouse", () => {
  it("confirms the engine, the database, the table and its columns, and the read", async () => {
    const where = await freshTable(rowsAt(3, (i) => at(i)))
    const facts = await check(openChdbSource(where))
    expect(facts).toEqual([
      expect.stringMatching(/^opened the embedded ClickHouse in .+ \(ClickHouse \d+\.\d+/),
      `database ${where.database} exists`,
      `table ${where.database}.events (MergeTree) has the columns uuid, distinct_id, env_id, event, properties, timestamp, _timestamp`,
      `user "default" can read ${where.database}.events`
    ])
  })

  it("says which database is missing and which exist", async () => {
    const where = await freshTable([])
    const error = await checkFailure(openChdbSource({ ...where, database: "no_such_db" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(/^the database "no_such_db" does not exist on embedded ClickHouse in /)
    expect(error.message).toContain(where.database)
    expect(error.message).toMatch(/set the source's database$/)
  })

  it("says which table is missing and lists the tables of the database", async () => {
    const where = await freshTable([])
    await engine().command({ query: `CREATE TABLE ${quoteIdentifier(where.database)}.other (x UInt8) ENGINE = Memory` })
    const error = await checkFailure(openChdbSource({ ...where, table: "distributed_events" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`the table ${where.database}.distributed_events does not exist`)
    expect(error.message).toContain(`tables in ${where.database}: events, other`)
  })

  it("names the columns a table lacks", async () => {
    const where = await freshTable([])
    await engine().command({
      query: `CREATE TABLE ${quoteIdentifier(where.database)}.half (uuid UUID, env_id String, event String, properties String, timestamp DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY timestamp`
    })
    const error = await checkFailure(openChdbSource({ ...where, table: "half" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`${where.database}.half`)
    expect(error.message).toContain("lacks the columns distinct_id, _timestamp")
  })

  it("refuses a cursor column that holds no date-time", async () => {
    const where = await freshTable([])
    await engine().command({
      query: `CREATE TABLE ${quoteIdentifier(where.database)}.odd (uuid UUID, distinct_id String, env_id String, event String, properties String, timestamp DateTime64(6, 'UTC'), _timestamp String) ENGINE = MergeTree ORDER BY timestamp`
    })
    const error = await checkFailure(openChdbSource({ ...where, table: "odd" }, { cursorColumn: "_timestamp" }))
    expect(error.message).toContain("the cursor column _timestamp of")
    expect(error.message).toContain("is String, not a DateTime")
  })

  it("resolves a relative chdb: folder against the pipeline file's folder", async () => {
    const where = await freshTable([])
    const facts = await check(
      openSource({ url: "chdb:./" + engineFolder().split("/").pop(), database: where.database }, { pipeline: "test", baseDir: join(engineFolder(), "..") })
    )
    expect(facts[0]).toContain(`embedded ClickHouse in ${engineFolder()}`)
  })

  it("refuses a chdb: folder that does not exist instead of creating an empty engine", async () => {
    const base = join(engineFolder(), "..")
    const error = await Effect.runPromise(Effect.scoped(Effect.flip(openSource({ url: "chdb:missing-folder" }, { pipeline: "p", baseDir: base }))))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`the chdb folder ${join(base, "missing-folder")} (url chdb:missing-folder) does not exist`)
  })

  it("refuses a second chdb folder in the same process with a sentence, not a crash", async () => {
    const other = join(engineFolder(), "..", `featbit-export-other-${process.pid}`)
    mkdirSync(other, { recursive: true })
    await engine().ping()
    const error = await Effect.runPromise(Effect.scoped(Effect.flip(openSource({ url: `chdb:${other}` })))).finally(() =>
      rmSync(other, { recursive: true, force: true })
    )
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(/chdb runs one engine per process/)
  })
})
