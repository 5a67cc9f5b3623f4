import { ClickHouseError } from "@clickhouse/client"
import { describe, expect, it } from "vitest"
import { type ErrorContext, IncompleteResponse, classify, serverException } from "../src/index.js"
import { parseCompact } from "../src/Query.js"

const context: ErrorContext = {
  target: "http://ch.internal:8123",
  username: "exporter",
  database: "featbit",
  table: "events",
  secrets: ["pa55-w0rd-xyz"]
}

const classified = (error: unknown) => classify(error, context, "reading featbit.events")

const systemError = (code: string, message: string) => Object.assign(new Error(message), { code })

// Exception texts as the servers send them: 18.16 (Debian) and 23.x+ (FeatBit's 23.7).
const old = (code: number, text: string) => new Error(`Code: ${code}, e.displayText() = DB::Exception: ${text}, e.what() = DB::Exception\n`)
const modern = (code: number, text: string, type: string) => new ClickHouseError({ code: String(code), type, message: `${text}. ` })

describe("classify: what the operator must fix is fatal", () => {
  it.each([
    ["18.16 wrong password", old(193, "Wrong password for user default")],
    ["23.x authentication failed", modern(516, "exporter: Authentication failed: password is incorrect, or there is no user with such name", "AUTHENTICATION_FAILED")],
    ["unknown user", old(192, "Unknown user exporter")]
  ])("%s", (_, error) => {
    const result = classified(error)
    expect(result.retryable).toBe(false)
    expect(result.message).toMatch(/^ClickHouse at http:\/\/ch\.internal:8123 refused the credentials of user "exporter": .*; fix the source's username and password$/)
  })

  it("access denied names the grant to add", () => {
    const result = classified(modern(497, "exporter: Not enough privileges. To execute this query, it's necessary to have the grant SELECT(uuid) ON featbit.events", "ACCESS_DENIED"))
    expect(result.retryable).toBe(false)
    expect(result.message).toMatch(/^user "exporter" may not read featbit\.events on .*grant it SELECT on featbit\.events/)
  })

  it("unknown database, table and column say which setting to fix", () => {
    expect(classified(old(81, "Database featbit doesn't exist")).message).toMatch(/^the database "featbit" does not exist on .*; set the source's database/)
    expect(classified(modern(60, "Unknown table expression identifier 'featbit.events' in scope SELECT", "UNKNOWN_TABLE")).message).toMatch(
      /^the table featbit\.events does not exist on .*UNKNOWN_TABLE, code 60.*; set the source's table/
    )
    const column = classified(modern(47, "Unknown expression identifier `_timestamp` in scope SELECT", "UNKNOWN_IDENTIFIER"))
    expect(column.retryable).toBe(false)
    expect(column.message).toMatch(/lacks a column this source reads: Unknown expression identifier `_timestamp`/)
  })

  it("a server without query parameters is told apart from a typo in a setting", () => {
    const result = classified(old(115, "Unknown setting param_db"))
    expect(result.retryable).toBe(false)
    expect(result.message).toMatch(/does not support query parameters/)
  })

  it("a certificate problem is a TLS configuration to fix", () => {
    const result = classified(systemError("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate"))
    expect(result.retryable).toBe(false)
    expect(result.message).toMatch(/cannot open a TLS connection to http:\/\/ch\.internal:8123 .*check the url and the tls settings/)
  })
})

describe("classify: what reading again may cure is transient", () => {
  it.each([
    ["connection refused", systemError("ECONNREFUSED", "connect ECONNREFUSED 10.0.0.5:8123"), /connection refused \(is the server running\?\)/],
    ["connection reset", systemError("ECONNRESET", "read ECONNRESET"), /failed while reading featbit\.events \(ECONNRESET/],
    ["socket hang up", systemError("ECONNRESET", "socket hang up"), /socket hang up/],
    ["the client's request timeout", new Error("Timeout error."), /did not answer in time/],
    ["a query timeout", modern(159, "Timeout exceeded: elapsed 30.1 seconds, maximum: 30", "TIMEOUT_EXCEEDED"), /TIMEOUT_EXCEEDED/],
    ["too many queries", modern(202, "Too many simultaneous queries. Maximum: 100", "TOO_MANY_SIMULTANEOUS_QUERIES"), /Too many simultaneous queries/],
    ["memory limit", modern(241, "Memory limit (total) exceeded", "MEMORY_LIMIT_EXCEEDED"), /MEMORY_LIMIT_EXCEEDED/],
    ["a proxy's 502 page", new Error("<html><body>502 Bad Gateway</body></html>"), /502 Bad Gateway/],
    ["an empty error body", new Error(""), /an empty error response/],
    ["a response cut short", new IncompleteResponse("the body does not parse as JSON"), /was incomplete while reading featbit\.events/],
    ["a JSON parse error", new SyntaxError("Unexpected end of JSON input"), /was incomplete/]
  ])("%s", (_, error, message) => {
    const result = classified(error)
    expect(result.retryable).toBe(true)
    expect(result.plugin).toBe("clickhouse")
    expect(result.message).toMatch(message)
  })
})

describe("secrets", () => {
  it("never appear in a message, whatever echoed them", () => {
    const result = classified(new Error("proxy says: bad credentials pa55-w0rd-xyz for exporter"))
    expect(result.message).not.toContain("pa55-w0rd-xyz")
    expect(result.message).toContain("***")
  })
})

describe("serverException", () => {
  it("reads both exception formats", () => {
    expect(serverException(old(60, "Table featbit.evnts doesn't exist."))).toEqual({ code: 60, type: undefined, text: "Table featbit.evnts doesn't exist." })
    expect(serverException("Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED) (version 23.7.1.2470)\n")).toEqual({
      code: 241,
      type: "MEMORY_LIMIT_EXCEEDED",
      text: "Memory limit (total) exceeded."
    })
    expect(serverException(new Error("socket hang up"))).toBeUndefined()
  })
})

describe("parseCompact: a page is complete or it is an error", () => {
  const document = JSON.stringify({ meta: [], data: [["a"], ["b"]], rows: 2 })

  it("returns the rows of a complete document", () => {
    expect(parseCompact(document)).toEqual([["a"], ["b"]])
  })

  it("refuses a body cut short", () => {
    expect(() => parseCompact(document.slice(0, -10))).toThrow(IncompleteResponse)
  })

  it("reports an exception written after the rows (servers before 25.11, text formats and JSON's exception key)", () => {
    const text = document.slice(0, 30) + "\nCode: 241. DB::Exception: Memory limit (for query) exceeded. (MEMORY_LIMIT_EXCEEDED) (version 23.7.1.2470)\n"
    expect(() => parseCompact(text)).toThrow(/MEMORY_LIMIT_EXCEEDED after the rows had started/)
    const keyed = JSON.stringify({ meta: [], data: [["a"]], rows: 1, exception: "Code: 159. DB::Exception: Timeout exceeded. (TIMEOUT_EXCEEDED) (version 23.7.1.2470)" })
    expect(() => parseCompact(keyed)).toThrow(/TIMEOUT_EXCEEDED after the rows had started/)
  })

  it("refuses a document whose row count does not match its rows", () => {
    expect(() => parseCompact(JSON.stringify({ meta: [], data: [["a"]], rows: 2 }))).toThrow(/announces 2 rows but holds 1/)
  })
})
