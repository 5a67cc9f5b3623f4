// The README's promises about the examples and the editor schema, checked against the real files.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, bin, tempDir } from "./support.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const demoYaml = path.join(root, "examples", "demo.yaml")

beforeAll(() => assertBuilt())

describe("examples and the editor schema", () => {
  it("examples/demo.yaml is a valid pipeline file", () => {
    const run = spawnSync(process.execPath, [bin, "validate", demoYaml], { encoding: "utf8" })
    expect(run.status).toBe(0)
    const record = JSON.parse(run.stderr.trim()) as {
      message: string
      pipelines: Array<{ name: string; pollInterval: unknown; retry: { maxDelay: unknown }; source: { type: string }; sink: { type: string } }>
    }
    expect(record.message).toBe("valid")
    expect(record.pipelines.map((p) => [p.name, p.source.type, p.sink.type])).toEqual([["demo", "clickhouse", "file"]])
    // Durations read as people write them, not as Effect's internal objects.
    expect([record.pipelines[0]!.pollInterval, record.pipelines[0]!.retry.maxDelay]).toEqual(["5s", "30s"])
  })

  it("examples/transforms.yaml (the recipes of docs/transforms.md) compiles, and its tests pass", () => {
    const file = path.join(root, "examples", "transforms.yaml")
    const env = { ...process.env, SEGMENT_WRITE_KEY: undefined, EVENTHUB_CONNECTION_STRING: undefined }
    const validate = spawnSync(process.execPath, [bin, "validate", file], { encoding: "utf8", env })
    expect(validate.status, validate.stderr).toBe(0)
    const valid = JSON.parse(validate.stderr.trim().split("\n").at(-1)!) as { pipelines: Array<{ name: string; expressions?: Array<{ at: string }> }> }
    // Every pipeline has an expression of its own.
    expect(valid.pipelines.filter((p) => (p.expressions ?? []).length === 0).map((p) => p.name)).toEqual(["no-user-names"])
    const test = spawnSync(process.execPath, [bin, "test", file], { encoding: "utf8", env })
    expect(test.status, test.stderr).toBe(0)
    expect(test.stderr.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>).at(-1)).toMatchObject({ message: "tests", passed: 14, failed: 0 })
    // Each recipe of the guide is one of the example's pipelines.
    const guide = fs.readFileSync(path.join(root, "docs", "transforms.md"), "utf8")
    const example = fs.readFileSync(file, "utf8")
    for (const recipe of ['flagKey in ["checkout-v2", "pricing-page"]', '"Experiment Viewed" : eventName', 'tags.?plan.orValue("free")', 'envId + ":" + (event == "FlagValue"', '{"id": id, "ts": timestamp']) {
      expect(guide).toContain(recipe)
      expect(example).toContain(recipe)
    }
  })

  it("the committed pipeline.schema.json is the one the CLI generates (run `pnpm schema` after changing a config)", () => {
    const run = spawnSync(process.execPath, [bin, "schema"], { encoding: "utf8" })
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout)).toEqual(JSON.parse(fs.readFileSync(path.join(root, "pipeline.schema.json"), "utf8")))
  })

  it("the demo fills an embedded ClickHouse with two environments and exports exactly one of them", () => {
    const dir = tempDir()
    fs.copyFileSync(demoYaml, path.join(dir, "demo.yaml"))
    const run = spawnSync(process.execPath, [path.join(root, "examples", "demo.mjs")], {
      encoding: "utf8",
      env: { ...process.env, DEMO_DIR: dir, DEMO_EVENTS: "20000" },
      timeout: 120_000
    })
    expect(run.status).toBe(0)
    expect(run.stdout).toContain("20,000 events in two environments")
    const done = run.stderr.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>).find((record) => record["message"] === "done")
    expect(done).toBeDefined()
    const lines = fs.readFileSync(path.join(dir, "out", "demo.ndjson"), "utf8").split("\n").filter((line) => line !== "")
    const events = lines.map((line) => JSON.parse(line) as { id: string; envId: string })
    // One environment of two, roughly half of the rows, each once.
    expect(new Set(events.map((event) => event.envId))).toEqual(new Set(["9d4e1f7a-3b2c-4e8d-a1f6-5c7b9e2d0a43"]))
    expect(events.length).toBeGreaterThan(5_000)
    expect(events.length).toBeLessThan(15_000)
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length)
    expect(done!["exported"]).toBe(events.length)
    expect(done!["deadLettered"]).toBe(0)
  }, 180_000)
})
