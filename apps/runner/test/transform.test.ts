// Filters and transforms through the built CLI: run, preview, validate, test and dead-letters --replay on a
// generated export (thousands of users, flag evaluations and metrics mixed).
import * as fs from "node:fs"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, cli, jsonLines, readNdjson, stackLine, tempDir, writeFile } from "./support.js"

beforeAll(assertBuilt)

const pipeline = (label: string, extra = "") => `pipelines:
  - name: exposures
    source: { type: generate, count: 4000, seed: 21, users: 50000 }
    sink: { type: file, path: out/events.ndjson }
    filter: 'event != "PageView"'
    transform:
      set:
        label: '${label}'
        properties.plan: 'tags.?plan.orValue("free")'
      drop: [user.name, route]
${extra}`

const linesOf = (dir: string) => readNdjson(path.join(dir, "out", "events.ndjson")) as unknown as Array<Record<string, unknown>>

describe("filter: and transform: in a run", () => {
  it("exports what the filter keeps, reshaped; dead-letters what an expression failed on; a replay after the fix delivers it", async () => {
    const dir = tempDir()
    // Wrong for metrics: they have no flagKey.
    writeFile(dir, "pipeline.yaml", pipeline('flagKey + "!"', "    deadLetters: { max: 2000 }\n"))
    const first = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(first.code, first.stderr).toBe(0)
    const done = jsonLines(first.stderr).find((r) => r["message"] === "done")!
    const out = linesOf(dir)
    const filtered = Number(done["filtered"])
    const failed = Number(done["deadLettered"])
    expect(filtered).toBeGreaterThan(100)
    expect(failed).toBeGreaterThan(100)
    expect(out.length + filtered + failed).toBe(4000)
    expect(done["exported"]).toBe(out.length)
    expect(new Set(out.map((e) => e["user"] && (e["user"] as { keyId: string }).keyId)).size).toBeGreaterThan(1000)
    for (const event of out) {
      expect(event["event"]).toBe("FlagValue")
      expect(event["label"]).toBe(`${String(event["flagKey"])}!`)
      expect((event["properties"] as Record<string, unknown>)["plan"]).toBe("free")
      expect(event["user"]).not.toHaveProperty("name")
      expect(event).not.toHaveProperty("route")
    }
    const letters = fs
      .readFileSync(path.join(dir, ".featbit-export", "exposures.dead-letter.ndjson"), "utf8")
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as { stage: string; reason: string; event: Record<string, unknown> })
    expect(letters).toHaveLength(failed)
    expect(new Set(letters.map((l) => l.stage))).toEqual(new Set(["transform"]))
    expect(letters[0]!.reason).toMatch(/^transform\.set\.label: Unknown variable: flagKey: flagKey is set on FlagValue events only, and this is a (CustomEvent|Click) event/)
    // The letter keeps the event as the source gave it.
    expect(letters[0]!.event).toHaveProperty("route")

    const counts = await cli(["dead-letters", "pipeline.yaml", "--log-format", "text"], { cwd: dir })
    expect(counts.stderr).toMatch(new RegExp(`${failed.toLocaleString("en-US")} from the transform \\(events an expression failed on\\)`))

    // The fix: a label for both kinds. The replay sends the failed events through the whole step again.
    writeFile(dir, "pipeline.yaml", pipeline('event == "FlagValue" ? flagKey + "!" : eventName', "    deadLetters: { max: 2000 }\n"))
    const replay = await cli(["dead-letters", "pipeline.yaml", "--replay", "--pipeline", "exposures"], { cwd: dir })
    expect(replay.code, replay.stderr).toBe(0)
    expect(jsonLines(replay.stderr).find((r) => r["message"] === "replayed")).toMatchObject({ sent: failed, delivered: failed, failed: 0, filtered: 0 })
    expect(fs.readFileSync(path.join(dir, ".featbit-export", "exposures.dead-letter.ndjson"), "utf8")).toBe("")
    const all = linesOf(dir)
    expect(all).toHaveLength(4000 - filtered)
    expect(new Set(all.map((e) => e["id"])).size).toBe(all.length)
    const metrics = all.filter((e) => e["event"] !== "FlagValue")
    expect(metrics).toHaveLength(failed)
    for (const event of metrics) expect(event["label"]).toBe(event["eventName"])
  })

  it("preview shows events as the sink gets them, and says how many the filter left out", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", pipeline('event == "FlagValue" ? flagKey : eventName'))
    const preview = await cli(["preview", "pipeline.yaml", "--limit", "200"], { cwd: dir })
    expect(preview.code, preview.stderr).toBe(0)
    const shown = preview.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(shown.length).toBeGreaterThan(100)
    expect(shown.every((e) => e["event"] !== "PageView" && e["label"] !== undefined && !("route" in e))).toBe(true)
    const record = jsonLines(preview.stderr).find((r) => r["message"] === "preview")!
    expect(Number(record["filtered"])).toBe(200 - shown.length)
  })

  it("validate shows each compiled expression with its type", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", pipeline('event == "FlagValue" ? flagKey : eventName'))
    const validate = await cli(["validate", "pipeline.yaml", "--log-format", "text"], { cwd: dir })
    expect(validate.code, validate.stderr).toBe(0)
    expect(validate.stderr).toContain(`    filter: event != "PageView"  (compiled: bool)`)
    expect(validate.stderr).toContain(`    transform.set.label: event == "FlagValue" ? flagKey : eventName  (compiled: string)`)
    expect(validate.stderr).toContain(`    transform.set.properties.plan: tags.?plan.orValue("free")  (compiled: string)`)
  })

  it("a broken expression exits 2 at its file:line:column, with no stack trace, before anything runs", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", pipeline("flagKey.size() > "))
    const run = await cli(["run", "pipeline.yaml", "--once", "--log-format", "text"], { cwd: dir })
    expect(run.code).toBe(2)
    // Line 8 is `        label: 'flagKey.size() > '`: the expression ends too soon, at its closing quote.
    expect(run.stderr).toMatch(/^pipeline\.yaml:8:34: pipelines\[0\]\.transform\.set\.label: Unexpected token: EOF$/m)
    expect(run.stderr).not.toMatch(stackLine)
    expect(fs.existsSync(path.join(dir, "out"))).toBe(false)
  })
})

describe("featbit-export test", () => {
  const withTests = (expectedLabel: string) =>
    pipeline('event == "FlagValue" ? flagKey : eventName', `    tests:
      - name: an exposure gets its label and a plan
        input: { flagKey: checkout-v2, tags: { plan: pro } }
        expect: { label: ${expectedLabel}, properties: { plan: pro } }
      - name: page views are filtered out
        input: { event: PageView }
        filtered: true
      - name: a metric keeps its name as label
        input: { event: CustomEvent, eventName: purchase }
        expect: { label: purchase, user: { keyId: example-user } }
`)

  it("passes when every test does (exit 0)", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", withTests("checkout-v2"))
    const result = await cli(["test", "pipeline.yaml", "--log-format", "text"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toContain("ok    exposures: an exposure gets its label and a plan")
    expect(result.stderr).toContain("3 of 3 tests passed")
  })

  it("fails with a diff of each differing field (exit 1)", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", withTests("checkout-v3"))
    const result = await cli(["test", "pipeline.yaml", "--log-format", "text"], { cwd: dir })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('FAIL  exposures: an exposure gets its label and a plan\n        label: expected "checkout-v3", got "checkout-v2"')
    expect(result.stderr).toContain("2 of 3 tests passed")
  })

  it("says a misspelt input field is not an event's, rather than pass on it", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", withTests("checkout-v2").replace("input: { event: PageView }", "input: { event: PageView, flagkey: x }"))
    const result = await cli(["test", "pipeline.yaml", "--log-format", "text"], { cwd: dir })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/FAIL {2}exposures: page views are filtered out\n {8}input\.flagkey: is unexpected/)
  })
})
