import { CONTRACT_VERSION } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { ClickHouseSource } from "../src/index.js"
import { openSource } from "./support/chdb.js"

const decode = Schema.decodeUnknownSync(ClickHouseSource.config)

const openFailure = (config: Record<string, unknown>) => Effect.runPromise(Effect.scoped(Effect.flip(openSource(config))))

describe("the clickhouse source plugin", () => {
  it("is a source of type clickhouse written against this core's contract", () => {
    expect(ClickHouseSource.kind).toBe("source")
    expect(ClickHouseSource.type).toBe("clickhouse")
    expect(ClickHouseSource.contract).toBe(CONTRACT_VERSION)
  })

  it("describes every key in its JSON Schema, and marks only url as required", () => {
    const schema = JSONSchema.make(ClickHouseSource.config) as {
      properties: Record<string, { description?: string; $ref?: string }>
      required: Array<string>
      $defs?: Record<string, { description?: string }>
    }
    const keys = Object.keys(schema.properties)
    expect(keys.sort()).toEqual(
      ["batchSize", "cursorColumn", "database", "endAt", "envId", "envIds", "events", "lag", "lateWindow", "password", "requestTimeout", "startAt", "table", "tls", "url", "username"].sort()
    )
    for (const key of keys) {
      const property = schema.properties[key]!
      const description = property.description ?? (property.$ref === undefined ? undefined : schema.$defs?.[property.$ref.split("/").pop()!]?.description)
      expect(description, key).toMatch(/\w{3,}/)
    }
    expect(schema.required).toEqual(["url"])
  })

  it("applies FeatBit's defaults", () => {
    const config = decode({ url: "http://clickhouse:8123" })
    expect(config.username).toBe("default")
    expect(config.database).toBe("featbit")
    expect(config.table).toBe("events")
    expect(config.cursorColumn).toBe("timestamp")
    expect(Duration.toMillis(config.lag)).toBe(30_000)
    expect(config.password).toBeUndefined()
    expect(config.envIds).toBeUndefined()
    expect(config.events).toBeUndefined()
    expect(config.batchSize).toBeUndefined()
  })

  it("reads people's date-times and durations, and keeps the password redacted", () => {
    const config = decode({
      url: "https://ch.example:8443",
      password: "s3cret-pass",
      startAt: "2024-01-01 00:00:00",
      endAt: "2024-02-01T00:00:00.5+01:00",
      lag: "2m",
      events: ["FlagValue"]
    })
    expect(config.startAt).toBe("2024-01-01T00:00:00.000000Z")
    expect(config.endAt).toBe("2024-01-31T23:00:00.500000Z")
    expect(Duration.toMillis(config.lag)).toBe(120_000)
    expect(Redacted.isRedacted(config.password)).toBe(true)
    expect(String(config.password)).not.toContain("s3cret")
    expect(JSON.stringify(config)).not.toContain("s3cret")
  })

  it("rejects keys and values that cannot work, at decoding", () => {
    expect(() => decode({ url: "http://x", events: ["Pageview"] })).toThrow(/Pageview/)
    expect(() => decode({ url: "http://x", cursorColumn: "created_at" })).toThrow(/created_at/)
    expect(() => decode({ url: "http://x", startAt: "yesterday" })).toThrow(/UTC date-time/)
    expect(() => decode({ url: "http://x", batchSize: 0 })).toThrow()
    expect(() => decode({ url: "http://x", envIds: [] })).toThrow()
    expect(() => decode({})).toThrow(/url/)
  })

  it("refuses urls it cannot use, with a sentence saying what to fix", async () => {
    const credentials = await openFailure({ url: "http://admin:hunter22@localhost:8123" })
    expect(credentials.retryable).toBe(false)
    expect(credentials.message).toMatch(/url carries credentials; put the user in username and the password in password/)
    expect(credentials.message).not.toContain("hunter22")
    const scheme = await openFailure({ url: "tcp://localhost:9000" })
    expect(scheme.message).toMatch(/url must start with http:\/\/, https:\/\/ or chdb:, found tcp:/)
    const garbage = await openFailure({ url: "not a url" })
    expect(garbage.message).toMatch(/url is neither http\(s\):\/\/host:port nor chdb:<folder>/)
  })

  it("refuses TLS files it cannot read, naming the file", async () => {
    const error = await openFailure({ url: "https://localhost:8443", tls: { caFile: "no/such/ca.pem" } })
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(/cannot read tls\.caFile \/no\/such\/ca\.pem \(ENOENT\)/)
  })
})
