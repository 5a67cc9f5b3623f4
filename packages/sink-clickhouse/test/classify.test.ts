import { ClickHouseSink, classify } from "@featbit-export/sink-clickhouse"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"

const target = { where: "http://ch:8123", username: "writer", table: "analytics.featbit_events", secrets: ["hunter2-secret", "writer:hunter2-secret"] }
const server = (code: number, type: string, message: string) => Object.assign(new Error(message), { code: String(code), type })

describe("classify", () => {
  it.each([
    [516, "AUTHENTICATION_FAILED", false, /fix the sink's username and password/],
    [497, "ACCESS_DENIED", false, /grant it INSERT on analytics.featbit_events/],
    [81, "UNKNOWN_DATABASE", false, /fix the sink's database/],
    [60, "UNKNOWN_TABLE", false, /set createTable: true or fix the sink's table/],
    [53, "TYPE_MISMATCH", false, /run `featbit-export check`/],
    [202, "TOO_MANY_SIMULTANEOUS_QUERIES", true, /is busy/],
    [241, "MEMORY_LIMIT_EXCEEDED", true, /is busy/],
    [159, "TIMEOUT_EXCEEDED", true, /is busy/]
  ])("code %i (%s): retryable %s", (code, type, retryable, message) => {
    const error = classify(server(code, type, `${type} for hunter2-secret`), target, "inserting")
    expect(error.retryable).toBe(retryable)
    expect(error.message).toMatch(message)
    expect(error.message).not.toContain("hunter2-secret")
  })

  it("retries network failures, timeouts and proxy pages", () => {
    expect(classify(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }), target, "inserting").retryable).toBe(true)
    expect(classify(new Error("Timeout error."), target, "inserting").message).toMatch(/requestTimeout/)
    expect(classify(new Error("<html>502 Bad Gateway</html>"), target, "inserting").retryable).toBe(true)
    expect(classify(Object.assign(new Error("self-signed"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" }), target, "inserting").retryable).toBe(false)
  })
})

describe("configIssues", () => {
  const issues = (config: Record<string, unknown>) => ClickHouseSink.configIssues!(Schema.decodeUnknownSync(ClickHouseSink.config)(config))
  it("refuses credentials in the url and columns that collide or drop the key", () => {
    expect(issues({ url: "http://u:p@ch:8123" })[0]?.message).toMatch(/carries credentials/)
    expect(issues({ url: "ftp://ch" })[0]?.path).toEqual(["url"])
    expect(issues({ url: "chdb:" })[0]?.message).toMatch(/needs a folder/)
    expect(issues({ url: "http://ch:8123", columns: { id: false } })[0]?.path).toEqual(["columns", "id"])
    expect(issues({ url: "http://ch:8123", columns: { user_key: "user_name" } })[0]?.message).toMatch(/both write the column/)
    expect(issues({ url: "https://ch:8443" })).toEqual([])
  })
})
