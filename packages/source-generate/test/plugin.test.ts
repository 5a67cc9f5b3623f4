import { it } from "@effect/vitest"
import { PipelineFile } from "@featbit-export/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { describe, expect } from "vitest"
import {
  DEFAULT_FLAGS,
  DEFAULT_USERS,
  GenerateSource,
  MAX_FLAGS,
  MAX_USERS,
  defaultEnvIds,
  generateRows
} from "../src/index.js"

const decode = Schema.decodeUnknownEither(GenerateSource.config)

describe("GenerateSource plugin", () => {
  it("is a generate source with a description", () => {
    expect(GenerateSource.kind).toBe("source")
    expect(GenerateSource.type).toBe("generate")
    expect(GenerateSource.description.length).toBeGreaterThan(10)
  })

  it("decodes an empty config to the defaults", () => {
    const config = Either.getOrThrow(decode({}))
    expect(config).toEqual({ seed: 1, users: DEFAULT_USERS, flags: DEFAULT_FLAGS, maxTie: 4, tieBurst: 0, malformedEvery: 0 })
  })

  it.effect("makes a source of 1000 events when neither count nor rate is given", () =>
    Effect.gen(function* () {
      const source = yield* GenerateSource.make(Either.getOrThrow(decode({})), { pipeline: "demo", baseDir: "." })
      const pages = Chunk.toArray(yield* Stream.runCollect(source.read(undefined, { pageSize: 300 })))
      expect(pages.map((page) => page.events.length + page.rejected.length)).toEqual([300, 300, 300, 100])
    }).pipe(Effect.scoped))

  it("reads a rate as events per second: a number, or N/s, N/m, N/h", () => {
    for (const [rate, perSecond] of [
      [200, 200],
      [0.5, 0.5],
      ["200/s", 200],
      [" 1.5 / s ", 1.5],
      ["30/m", 0.5],
      ["7200/h", 2],
      ["1/h", 1 / 3600]
    ] as const) {
      expect(Either.getOrThrow(decode({ rate })).rate, String(rate)).toBe(perSecond)
    }
  })

  it("rejects anything else as a rate, saying what a rate looks like", () => {
    for (const rate of ["200", "200/d", "fast", "200 per second", "-5/s", "/s", ""]) {
      const result = decode({ rate })
      expect(Either.isLeft(result), rate).toBe(true)
      if (Either.isLeft(result)) expect(result.left.message, rate).toMatch(/Expected a rate such as 200\/s/)
    }
    for (const rate of [0, -1, "0/s", 2_000_000, "2000000/s", "1/d"]) expect(Either.isLeft(decode({ rate })), String(rate)).toBe(true)
  })

  it.effect("with a rate and no count, makes an endless source that returns the events due by now", () =>
    Effect.gen(function* () {
      const started = Date.now() - 2_000
      const config = Either.getOrThrow(decode({ rate: "100/s", seed: 4, start: new Date(started).toISOString() }))
      expect(config.count).toBeUndefined()
      const source = yield* GenerateSource.make(config, { pipeline: "live", baseDir: "." })
      const pages = Chunk.toArray(yield* Stream.runCollect(source.read(undefined, { pageSize: 500 })))
      const readBy = Date.now()
      const events = pages.flatMap((page) => page.events)
      // Rows every 10 ms from `started`: at least those of the first two seconds, none after the read.
      expect(events.length).toBeGreaterThanOrEqual(201)
      expect(events.length).toBeLessThanOrEqual(Math.floor((readBy - started) / 10) + 1)
      for (const event of events) expect(Date.parse(event.timestamp.slice(0, 23) + "Z")).toBeLessThanOrEqual(readBy)
    }).pipe(Effect.scoped))

  it("rejects a negative or fractional count, and other invalid values", () => {
    for (const bad of [
      { count: -1 },
      { count: 2.5 },
      { count: "10" },
      { seed: 1.5 },
      { maxTie: 0 },
      { maxTie: 2_000_000 },
      { tieBurst: -1 },
      { users: 0 },
      { users: 1.5 },
      { users: MAX_USERS + 1 },
      { flags: 0 },
      { flags: MAX_FLAGS + 1 },
      { malformedEvery: -3 },
      { pageSize: 0 },
      { envIds: [] },
      { envIds: [""] },
      { start: "yesterday" },
      { start: "2024-02-31T00:00:00Z" },
      { start: "2024-01-01T99:00:00.000000Z" }
    ]) {
      expect(Either.isLeft(decode(bad)), JSON.stringify(bad)).toBe(true)
    }
  })

  it("reads start in ISO and ClickHouse forms into the canonical timestamp", () => {
    for (const start of ["2024-01-01T00:00:00Z", "2024-01-01 00:00:00.000", "2024-01-01T01:00:00+01:00"]) {
      const config = Either.getOrThrow(decode({ start }))
      expect(config.start).toBe("2024-01-01T00:00:00.000000Z")
    }
  })

  it("describes every config key in the generated JSON Schema", () => {
    const schema = JSON.stringify(PipelineFile.jsonSchema({ sources: [GenerateSource], sinks: [] }))
    const fields = Object.keys(GenerateSource.config.fields)
    expect(fields.sort()).toEqual(["count", "envIds", "flags", "malformedEvery", "maxTie", "pageSize", "rate", "seed", "start", "tieBurst", "users"])
    const parsed = JSON.parse(schema) as unknown
    // Find the object schema that lists the plugin's keys.
    const found: Array<Record<string, { description?: string }>> = []
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk)
      else if (typeof node === "object" && node !== null) {
        const properties = (node as { properties?: Record<string, { description?: string }> }).properties
        if (properties !== undefined && "malformedEvery" in properties) found.push(properties)
        Object.values(node).forEach(walk)
      }
    }
    walk(parsed)
    expect(found).toHaveLength(1)
    for (const field of fields) expect(found[0]![field]?.description, field).toBeTruthy()
  })

  it.effect("makes a source that reads the configured rows", () =>
    Effect.gen(function* () {
      const config = Either.getOrThrow(decode({ count: 50, seed: 3, envIds: ["env-1"], pageSize: 20 }))
      const source = yield* GenerateSource.make(config, { pipeline: "demo", baseDir: "." })
      const pages = Chunk.toArray(yield* Stream.runCollect(source.read(undefined, { pageSize: 1000 })))
      expect(pages.map((page) => page.events.length)).toEqual([20, 20, 10])
      expect(pages.flatMap((page) => page.events.map((event) => event.id))).toEqual(
        [...generateRows({ count: 50, seed: 3, envIds: ["env-1"] })].map((row) => row.id)
      )
      expect(new Set(pages.flatMap((page) => page.events.map((event) => event.envId)))).toEqual(new Set(["env-1"]))
      expect(defaultEnvIds).not.toContain("env-1")
    }).pipe(Effect.scoped))
})
