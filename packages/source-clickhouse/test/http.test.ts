import { SourceError, type Source } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { type Fault, type HttpFront, closedPort, makeRecordingSink, makeTestStores, runOnce, startHttpFront } from "@featbit-export/testkit"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import type * as Scope from "effect/Scope"
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest"
import { closeEngine, engine, freshTable, openSource, type TestTable } from "./support/chdb.js"
import { eventIds, ids, readAll } from "./support/rows.js"

afterAll(closeEngine)

const PASSWORD = "correct-horse-7b1f"
let front: HttpFront

beforeEach(async () => {
  front = await startHttpFront({ engine: engine(), users: { default: PASSWORD, reader: "r3ader-pass" } })
})
afterEach(() => front.close())

const httpSource = (where: TestTable, config: Record<string, unknown> = {}): Effect.Effect<Source, SourceError, Scope.Scope> =>
  openSource({ url: front.url, password: PASSWORD, database: where.database, table: where.table, lag: 0, ...config })

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

const readFailure = (source: Effect.Effect<Source, SourceError, Scope.Scope>): Promise<SourceError> =>
  run(Effect.flip(Effect.flatMap(source, (s) => readAll(s, undefined, 100)))) as Promise<SourceError>

const pageQueries = () => front.requests.filter((request) => request.sql.includes("ORDER BY"))

describe("the HTTP transport, against a ClickHouse HTTP interface", () => {
  it("reads what the table holds, binding every value and name as a query parameter", async () => {
    const env = "env-http-9c1d2e"
    const rows = [...generateRows({ count: 700, seed: 51, envIds: [env, "env-other-4f5a"] })]
    const where = await freshTable(rows)
    const pages = await run(Effect.flatMap(httpSource(where, { envIds: [env], events: ["FlagValue", "CustomEvent"] }), (source) => readAll(source, undefined, 64)))
    const expected = rows.filter((row) => row.envId === env && (row.event === "FlagValue" || row.event === "CustomEvent"))
    expect(eventIds(pages)).toEqual(ids(expected))
    // No configured name or value is ever part of the SQL text: they travel as param_<name>.
    expect(pageQueries().length).toBeGreaterThan(2)
    for (const request of front.requests) {
      expect(request.sql).not.toContain(where.database)
      expect(request.sql).not.toContain(env)
      expect(request.sql).not.toContain("FlagValue")
    }
    const first = pageQueries()[0]!
    expect(first.params["db"]).toBe(where.database)
    expect(first.params["table"]).toBe("events")
    expect(first.params["envs"]).toBe(`['${env}']`)
    expect(first.params["kinds"]).toBe("['FlagValue','CustomEvent']")
    // And it changes no setting, so a readonly=1 user can run it.
    expect(front.requests.every((request) => Object.keys(request.settings).length === 0)).toBe(true)
  })

  it("check reports the server, the user, the database, the table and the read", async () => {
    const where = await freshTable([])
    const facts = await run(Effect.flatMap(httpSource(where, { username: "reader", password: "r3ader-pass" }), (source) => source.check!))
    expect(facts).toEqual([
      expect.stringMatching(new RegExp(`^connected to ClickHouse 26\\.7\\.\\d+\\.\\d+ at ${front.url} as user "reader"$`)),
      `database ${where.database} exists`,
      `table ${where.database}.events (MergeTree) has the columns uuid, distinct_id, env_id, event, properties, timestamp, _timestamp`,
      `user "reader" can read ${where.database}.events`
    ])
  })

  it("fails fatally on a wrong password, with a sentence that does not contain it", async () => {
    const where = await freshTable([])
    const wrong = "Wr0ng-pass-e81c"
    const attempts: ReadonlyArray<(source: Source) => Effect.Effect<unknown, unknown>> = [
      (source) => readAll(source, undefined, 10),
      (source) => source.check!
    ]
    for (const attempt of attempts) {
      const error = await run(Effect.flip(Effect.flatMap(httpSource(where, { password: wrong }), attempt)))
      expect(error).toBeInstanceOf(SourceError)
      expect((error as SourceError).retryable).toBe(false)
      expect((error as SourceError).message).toMatch(
        new RegExp(`^ClickHouse at ${front.url} refused the credentials of user "default": .*AUTHENTICATION_FAILED.*; fix the source's username and password$`)
      )
      expect(JSON.stringify({ message: (error as SourceError).message })).not.toContain(wrong)
      expect((error as SourceError).message).not.toContain(PASSWORD)
    }
  })

  it("fails fatally with a sentence when the table is missing", async () => {
    const where = await freshTable([])
    const error = await readFailure(httpSource({ ...where, table: "evnets" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`the table ${where.database}.evnets does not exist on ${front.url}`)
  })

  describe("failures that reading again can cure are transient SourceErrors", () => {
    const faultOnFirstPage = (fault: Fault) => {
      front.fault = (request) => (request.sql.includes("ORDER BY") ? fault : undefined)
    }

    it("connection refused", async () => {
      const where = await freshTable(generateRows({ count: 10, seed: 52 }))
      const port = await closedPort()
      const error = await readFailure(httpSource(where, { url: `http://127.0.0.1:${port}` }))
      expect(error.retryable).toBe(true)
      expect(error.message).toBe(
        `cannot connect to ClickHouse at http://127.0.0.1:${port} while reading the server's clock: connection refused (is the server running?)`
      )
    })

    it("HTTP 503 from something in front of the server", async () => {
      const where = await freshTable(generateRows({ count: 10, seed: 53 }))
      faultOnFirstPage({ kind: "status", status: 503 })
      const error = await readFailure(httpSource(where))
      expect(error.retryable).toBe(true)
      expect(error.message).toMatch(/failed while reading .*503 Service Unavailable/)
    })

    it("a connection dropped before the response (socket hang up)", async () => {
      const where = await freshTable(generateRows({ count: 10, seed: 54 }))
      faultOnFirstPage({ kind: "reset" })
      const error = await readFailure(httpSource(where))
      expect(error.retryable).toBe(true)
      expect(error.message).toMatch(/connection to ClickHouse at .* (failed|was closed) while reading/)
    })

    it("a connection cut in the middle of the body", async () => {
      const where = await freshTable(generateRows({ count: 300, seed: 55 }))
      faultOnFirstPage({ kind: "cut" })
      const error = await readFailure(httpSource(where))
      expect(error.retryable).toBe(true)
      expect(front.requests.find((request) => request.fault?.kind === "cut")).toBeDefined()
    })

    it("an exception appended after HTTP 200", async () => {
      const where = await freshTable(generateRows({ count: 300, seed: 56 }))
      faultOnFirstPage({ kind: "exception-after-200" })
      const error = await readFailure(httpSource(where))
      expect(error.retryable).toBe(true)
      expect(error.message).toMatch(/incomplete while reading .*MEMORY_LIMIT_EXCEEDED after the rows had started: Memory limit \(for query\) exceeded/)
    })

    it("a server that stops answering (request timeout)", async () => {
      const where = await freshTable(generateRows({ count: 10, seed: 57 }))
      faultOnFirstPage({ kind: "stall" })
      const error = await readFailure(httpSource(where, { requestTimeout: "300ms" }))
      expect(error.retryable).toBe(true)
      expect(error.message).toMatch(/did not answer in time while reading/)
    })
  })

  it("completes a full export through the engine with no loss while faults hit some requests", async () => {
    const rows = [...generateRows({ count: 3000, seed: 58, maxTie: 6 })]
    const where = await freshTable(rows)
    const kinds: ReadonlyArray<Fault> = [
      { kind: "cut" },
      { kind: "status", status: 503 },
      { kind: "exception-after-200" },
      { kind: "reset" },
      { kind: "status", status: 502, body: "Bad Gateway" }
    ]
    let injected = 0
    // Every fifth request fails, in rotation through the kinds, clock, count and bounds queries included (a
    // pass resumed after a failure sends four queries before its first page: clock, count, bounds, page).
    front.fault = (request) => (request.n % 5 === 0 ? kinds[injected++ % kinds.length] : undefined)
    const sink = makeRecordingSink()
    const stores = makeTestStores()
    const summary = await run(
      Effect.flatMap(httpSource(where), (source) =>
        runOnce(source, sink, stores, {
          batchSize: 250,
          retry: { initialDelay: Duration.millis(1), maxDelay: Duration.millis(5), maxRetries: 5 }
        })
      ).pipe(Logger.withMinimumLogLevel(LogLevel.Error)) // the engine's retry warnings are expected here
    )
    expect(injected).toBeGreaterThanOrEqual(kinds.length)
    expect(summary.retries).toBe(injected)
    expect(sink.delivered.map((event) => event.id)).toEqual(ids(rows))
    expect(summary.exported).toBe(3000)
    expect(stores.checkpoints.get("test")!.cursor).toEqual({ timestamp: rows[2999]!.timestamp, id: rows[2999]!.id })
  })
})
