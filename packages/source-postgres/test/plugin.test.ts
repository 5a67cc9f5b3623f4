import { CONTRACT_VERSION } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as JSONSchema from "effect/JSONSchema"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { PostgresSource, countSql, pageSql, quoteTable } from "../src/index.js"

const decode = Schema.decodeUnknownSync(PostgresSource.config)

describe("the postgres source plugin", () => {
  it("is a source of type postgres written against this core's contract", () => {
    expect(PostgresSource.kind).toBe("source")
    expect(PostgresSource.type).toBe("postgres")
    expect(PostgresSource.contract).toBe(CONTRACT_VERSION)
  })

  it("describes every key in its JSON Schema, and requires none", () => {
    const schema = JSONSchema.make(PostgresSource.config) as {
      properties: Record<string, { description?: string; $ref?: string }>
      required: Array<string>
      $defs?: Record<string, { description?: string }>
    }
    const keys = Object.keys(schema.properties)
    expect(keys.sort()).toEqual(
      ["batchSize", "connectTimeout", "database", "endAt", "envId", "envIds", "events", "host", "lag", "lateWindow", "password", "port", "queryTimeout", "schema", "startAt", "table", "tls", "url", "user"].sort()
    )
    for (const key of keys) {
      const property = schema.properties[key]!
      const description = property.description ?? (property.$ref === undefined ? undefined : schema.$defs?.[property.$ref.split("/").pop()!]?.description)
      expect(description, key).toMatch(/\w{3,}/)
    }
    expect(schema.required).toEqual([])
  })

  it("applies FeatBit's defaults and keeps url and password redacted", () => {
    const config = decode({ url: "postgres://u:pw-secret@db/featbit", password: "other-secret" })
    expect(config.schema).toBe("public")
    expect(config.table).toBe("events")
    expect(Duration.toMillis(config.lag)).toBe(30_000)
    expect(Duration.toMillis(config.lateWindow)).toBe(3_600_000)
    expect(config.batchSize).toBeUndefined()
    expect(String(config.url)).not.toContain("pw-secret")
    expect(JSON.stringify(config)).not.toContain("secret")
    expect(Redacted.value(config.url!)).toBe("postgres://u:pw-secret@db/featbit")
  })

  it("rejects a batchSize of 0 and an unreadable startAt", () => {
    expect(() => decode({ batchSize: 0 })).toThrow()
    expect(() => decode({ startAt: "yesterday" })).toThrow(/UTC date-time/)
  })

  it("quotes schema and table as identifiers and binds every value", () => {
    const table = quoteTable('we"ird', "events; DROP TABLE x")
    expect(table).toBe('"we""ird"."events; DROP TABLE x"')
    const settings = { table, envIds: ["env-'a"], events: ["FlagValue"] }
    const page = pageSql(
      settings,
      { after: { timestamp: "2025-01-01T00:00:00.000000Z" as never, id: "x'y" }, before: "2025-01-02T00:00:00.000000Z" as never, through: { timestamp: "2025-01-01T10:00:00.000000Z" as never, id: "z'z" }, since: "123" },
      100
    )
    expect(page.sql).not.toContain("env-'a")
    expect(page.sql).not.toContain("x'y")
    expect(page.sql).not.toContain("z'z")
    expect(page.sql).toContain('ORDER BY "timestamp", id::text COLLATE "C" LIMIT $9')
    expect(page.params).toEqual(["2025-01-02 00:00:00.000000", "2025-01-01 00:00:00.000000", "x'y", "2025-01-01 10:00:00.000000", "z'z", "123", ["env-'a"], ["FlagValue"], 100])
    const count = countSql(settings, { from: "2025-01-01T00:00:05.000000Z" as never, width: 10_000 }, { first: "2025-01-01T00:00:00.000000Z" as never, last: "2025-01-01T00:10:00.000000Z" as never })
    expect(count.sql).not.toContain("env-'a")
    expect(count.params).toEqual(["2025-01-01 00:00:00.000000", "2025-01-01 00:10:00.000000", 10_000, "2025-01-01 00:00:05.000000", ["env-'a"], ["FlagValue"]])
  })
})
