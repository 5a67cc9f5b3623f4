import { it } from "@effect/vitest"
import { PipelineFile } from "@featbit-export/core"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { describe, expect } from "vitest"
import { GenerateSource, defaultEnvIds, generateRows } from "../src/index.js"

const decode = Schema.decodeUnknownEither(GenerateSource.config)

describe("GenerateSource plugin", () => {
  it("is a generate source with a description", () => {
    expect(GenerateSource.kind).toBe("source")
    expect(GenerateSource.type).toBe("generate")
    expect(GenerateSource.description.length).toBeGreaterThan(10)
  })

  it("decodes an empty config to the defaults", () => {
    const config = Either.getOrThrow(decode({}))
    expect(config).toEqual({ count: 1000, seed: 1, maxTie: 4, tieBurst: 0, malformedEvery: 0 })
  })

  it("rejects a negative or fractional count, and other invalid values", () => {
    for (const bad of [
      { count: -1 },
      { count: 2.5 },
      { count: "10" },
      { seed: 1.5 },
      { maxTie: 0 },
      { maxTie: 2_000_000 },
      { tieBurst: -1 },
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
    expect(fields.sort()).toEqual(["count", "envIds", "malformedEvery", "maxTie", "pageSize", "seed", "start", "tieBurst"])
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
