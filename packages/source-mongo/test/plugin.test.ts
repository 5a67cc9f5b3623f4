import { CONTRACT_VERSION } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { MongoSource } from "../src/index.js"

const decode = Schema.decodeUnknownSync(MongoSource.config)

describe("the mongo source plugin", () => {
  it("is a source of type mongo written against this core's contract", () => {
    expect(MongoSource.kind).toBe("source")
    expect(MongoSource.type).toBe("mongo")
    expect(MongoSource.contract).toBe(CONTRACT_VERSION)
  })

  it("describes every key in its JSON Schema, and marks only url as required", () => {
    const schema = JSONSchema.make(MongoSource.config) as {
      properties: Record<string, { description?: string; $ref?: string }>
      required: Array<string>
      $defs?: Record<string, { description?: string }>
    }
    const keys = Object.keys(schema.properties)
    expect(keys.sort()).toEqual(["batchSize", "collection", "database", "endAt", "envId", "envIds", "events", "lag", "lateWindow", "readPreference", "startAt", "url"].sort())
    for (const key of keys) {
      const property = schema.properties[key]!
      const description = property.description ?? (property.$ref === undefined ? undefined : schema.$defs?.[property.$ref.split("/").pop()!]?.description)
      expect(description, key).toMatch(/\w{3,}/)
    }
    expect(schema.required).toEqual(["url"])
  })

  it("applies FeatBit Standard's defaults and keeps the url redacted", () => {
    const config = decode({ url: "mongodb://reader:s3cret-pass@mongo:27017" })
    expect(config.database).toBe("featbit")
    expect(config.collection).toBe("Events")
    expect(Duration.toMillis(config.lag)).toBe(30_000)
    expect(config.batchSize).toBeUndefined()
    expect(Redacted.value(config.url)).toBe("mongodb://reader:s3cret-pass@mongo:27017")
    expect(String(config.url)).not.toContain("s3cret-pass")
    expect(JSON.stringify(config)).not.toContain("s3cret-pass")
  })

  it("reads people's date-times, durations and read preferences, and refuses bad ones", () => {
    const config = decode({ url: "mongodb://m", startAt: "2024-01-01 00:00:00", lag: "2m", readPreference: "secondaryPreferred", envIds: ["e1"] })
    expect(config.startAt).toBe("2024-01-01T00:00:00.000000Z")
    expect(Duration.toMillis(config.lag)).toBe(120_000)
    expect(config.readPreference).toBe("secondaryPreferred")
    expect(() => decode({ url: "mongodb://m", readPreference: "closest" })).toThrow()
    expect(() => decode({ url: "mongodb://m", batchSize: 0 })).toThrow()
    expect(() => decode({ url: "mongodb://m", events: ["Nope"] })).toThrow()
  })

  it("refuses an empty window and an unreadable url, without echoing the password", async () => {
    const window = decode({ url: "mongodb://m", startAt: "2024-02-01T00:00:00Z", endAt: "2024-01-01T00:00:00Z" })
    const windowError = await Effect.runPromise(Effect.scoped(Effect.flip(MongoSource.make(window, { pipeline: "t", baseDir: "." }))))
    expect(windowError.message).toContain("endAt")
    const bad = decode({ url: "mongodb://u:topsecret@host:27017/?notAnOption=1&readPreference=bogus" })
    const urlError = await Effect.runPromise(Effect.scoped(Effect.flip(MongoSource.make(bad, { pipeline: "t", baseDir: "." }))))
    expect(urlError.retryable).toBe(false)
    expect(urlError.message).not.toContain("topsecret")
  })
})
