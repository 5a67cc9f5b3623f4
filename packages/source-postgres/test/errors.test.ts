import { SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type ErrorContext, classify } from "../src/index.js"
import { HOST, PORT, type TestDatabase, createDatabase, createEventsTable, failure, openSource, readAll, sourceConfig, uniqueName } from "./support/pg.js"

const context: ErrorContext = {
  target: "db.example:5432/featbit",
  user: "reader",
  database: "featbit",
  table: '"public"."events"',
  secrets: ["hunter2-secret"]
}

/** An error as pg's DatabaseError carries it: a SQLSTATE `code` and the server's message. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code, severity: "FATAL" })

describe("classifying pg failures", () => {
  it.each([
    ["57P01", "terminating connection due to administrator command"],
    ["57P02", "terminating connection due to crash of another server process"],
    ["57P03", "the database system is starting up"],
    ["08006", "connection failure"],
    ["08001", "could not establish connection"],
    ["08P01", "protocol violation"],
    ["53300", "sorry, too many clients already"],
    ["57014", "canceling statement due to statement timeout"]
  ])("SQLSTATE %s is transient", (code, message) => {
    const error = classify(pgError(code, message), context, "reading")
    expect(error.retryable).toBe(true)
    expect(error.message).toContain(`SQLSTATE ${code}`)
  })

  it.each([
    ["28P01", 'password authentication failed for user "reader" (hunter2-secret)', /refused user "reader".*fix the source's user and password/],
    ["28000", 'role "reader" does not exist', /refused user "reader"/],
    ["3D000", 'database "featbit" does not exist', /the database "featbit" does not exist .*set the source's database/],
    ["42P01", 'relation "public.events" does not exist', /the table "public"."events" does not exist .*set the source's schema and table/],
    ["42501", "permission denied for table events", /may not read "public"."events" .*GRANT SELECT/],
    ["42703", 'column "env_id" does not exist', /lacks a column/]
  ])("SQLSTATE %s is fatal with a sentence that says what to fix", (code, message, sentence) => {
    const error = classify(pgError(code, message), context, "reading")
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(sentence)
    expect(error.message).not.toContain("hunter2-secret")
  })

  it.each([
    ["ECONNRESET", "read ECONNRESET"],
    ["ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"],
    ["ETIMEDOUT", "connect ETIMEDOUT"],
    [undefined, "Connection terminated unexpectedly"],
    [undefined, "Query read timeout"],
    [undefined, "timeout exceeded when trying to connect"]
  ])("socket failure %s (%s) is transient", (code, message) => {
    const error = classify(Object.assign(new Error(message), code === undefined ? {} : { code }), context, "reading")
    expect(error.retryable).toBe(true)
  })

  it("anything else is fatal, and secrets are redacted from the driver's text", () => {
    const error = classify(new Error("something odd with hunter2-secret"), context, "reading")
    expect(error.retryable).toBe(false)
    expect(error.message).not.toContain("hunter2-secret")
    expect(error.message).toContain("***")
  })
})

describe("failures against the real server", () => {
  let db: TestDatabase
  let schema: string
  const role = uniqueName("noread")
  beforeAll(async () => {
    db = await createDatabase("err")
    schema = uniqueName("s")
    await createEventsTable(db, schema)
    await db.pool.query(`CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN`)
  })
  afterAll(async () => {
    await db.drop()
    const admin = new pg.Client({ host: HOST, port: PORT, user: "postgres", database: "postgres" })
    await admin.connect()
    await admin.query(`DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`)
    await admin.end()
  })

  const readError = async (config: Record<string, unknown>): Promise<SourceError> => {
    const error = await failure(Effect.flatMap(openSource(config), (source) => readAll(source, undefined, 10)))
    expect(error).toBeInstanceOf(SourceError)
    return error as SourceError
  }

  it("an unknown user is fatal, says so, and never prints the password", async () => {
    const user = uniqueName("nobody")
    const error = await readError(sourceConfig(db, schema, { user, password: "Sup3r-Secret-pw" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(new RegExp(`refused user "${user}".*fix the source's user and password`))
    expect(error.message).not.toContain("Sup3r-Secret-pw")
    expect(JSON.stringify(error)).not.toContain("Sup3r-Secret-pw")
  })

  it("an unknown database in a url is fatal, says so, and never prints the url's password", async () => {
    const name = uniqueName("missing")
    const error = await readError({ url: `postgres://postgres:Url-Secret-pw@${HOST}:${PORT}/${name}`, schema, lag: 0 })
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(new RegExp(`the database "${name}" does not exist on PostgreSQL at ${HOST}:${PORT}/${name}`))
    expect(error.message).not.toContain("Url-Secret-pw")
  })

  it("an unknown table is fatal and names the table", async () => {
    const error = await readError(sourceConfig(db, schema, { table: "no_such_events" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`the table "${schema}"."no_such_events" does not exist`)
  })

  it("a user without SELECT on the table is fatal with the GRANT to run", async () => {
    const error = await readError(sourceConfig(db, schema, { user: role }))
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(new RegExp(`user "${role}" may not read "${schema}"."events".*GRANT SELECT`))
  })

  it("a query that outlives queryTimeout (the table locked by another session) is transient", async () => {
    const locker = await db.pool.connect()
    try {
      await locker.query("BEGIN")
      await locker.query(`LOCK TABLE ${pg.escapeIdentifier(schema)}.events IN ACCESS EXCLUSIVE MODE`)
      const error = await readError(sourceConfig(db, schema, { queryTimeout: "300ms" }))
      expect(error.retryable).toBe(true)
      expect(error.message).toMatch(/timeout/i)
    } finally {
      await locker.query("ROLLBACK")
      locker.release()
    }
  })

  it("a server that refuses connections is transient", async () => {
    const error = await readError({ host: "127.0.0.1", port: 1, user: "postgres", database: "postgres", lag: 0, connectTimeout: "2s" })
    expect(error.retryable).toBe(true)
    expect(error.message).toMatch(/ECONNREFUSED/)
  })
})
