// Enrichment through the built CLI: a generated export whose flags are in FeatBit's PostgreSQL
// (feature_flags), with a filter on the enriched value.
import * as path from "node:path"
import { defaultEnvIds, flagPool } from "@featbit-export/source-generate"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { evaluationServer, featbitDatabase } from "../../../packages/enrich-flags/test/support.js"
import { assertBuilt, cli, jsonLines, readNdjson, sleep, start, tempDir, waitFor, writeFile } from "./support.js"

beforeAll(assertBuilt)

let db: Awaited<ReturnType<typeof featbitDatabase>>
const pool = flagPool()
beforeAll(async () => {
  db = await featbitDatabase()
  // Every flag but the last is in the catalogue of the first environment; its first variation is "on".
  for (const flag of pool.slice(0, -1)) {
    await db.insert({
      envId: defaultEnvIds[0]!,
      key: flag.key,
      name: `Flag ${flag.key}`,
      variationType: "boolean",
      variations: flag.variationIds.map((id, i) => ({ id, name: i === 0 ? "On" : `Off ${i}`, value: i === 0 ? "true" : "false" }))
    })
  }
})
afterAll(async () => db?.drop())

describe("enrich: flags from FeatBit's PostgreSQL", () => {
  it("adds flagName, variationName and the typed variationValue; a filter can use them; unknown flags go out as they are", async () => {
    const dir = tempDir()
    writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: enriched
    source: { type: generate, count: 3000, seed: 5, users: 50000, envIds: ["${defaultEnvIds[0]}"] }
    enrich: { flags: { type: postgres, url: "\${FLAGS_URL}" } }
    filter: 'event != "FlagValue" || flagKey == "${pool.at(-1)!.key}" || variationValue == true'
    sink: { type: file, path: out/events.ndjson }
`
    )
    const result = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir, env: { FLAGS_URL: db.url } })
    expect(result.code, result.stderr).toBe(0)
    const done = jsonLines(result.stderr).find((r) => r["message"] === "done")!
    const out = readNdjson(path.join(dir, "out", "events.ndjson")) as unknown as Array<Record<string, unknown>>
    const flags = out.filter((e) => e["event"] === "FlagValue")
    const known = flags.filter((e) => e["flagKey"] !== pool.at(-1)!.key)
    expect(known.length).toBeGreaterThan(300)
    for (const event of known) expect(event).toMatchObject({ flagName: `Flag ${String(event["flagKey"])}`, variationName: "On", variationValue: true })
    // The flag the catalogue lacks: exported without values, not blocked.
    const unknown = flags.filter((e) => e["flagKey"] === pool.at(-1)!.key)
    expect(unknown.length).toBeGreaterThan(0)
    for (const event of unknown) expect(event).not.toHaveProperty("variationValue")
    // Said once, however many events it has.
    const told = jsonLines(result.stderr).filter((r) => r["level"] === "warn" && String(r["message"]).includes("is not in FeatBit's flags"))
    expect(told.map((r) => r["message"])).toEqual([
      `flag ${pool.at(-1)!.key} of environment ${defaultEnvIds[0]} is not in FeatBit's flags (deleted, or another environment's?): its events go out without flagName, variationName and variationValue`
    ])
    expect(Number(done["filtered"])).toBeGreaterThan(100)
    expect(out.length + Number(done["filtered"])).toBe(3000)
    // Counted: in the summary (record and sentence) and in the checkpoint, across runs.
    expect(done["unenriched"]).toBe(unknown.length)
    const checkpoints = await cli(["checkpoints", "pipeline.yaml", "--log-format", "text"], { cwd: dir, env: { FLAGS_URL: db.url } })
    expect(checkpoints.stdout + checkpoints.stderr).toContain(`, ${unknown.length} flag evaluations exported without their flag's values (unknown flags), in all`)
  })

  it("a following runner counts the evaluations of unknown flags in /status and /metrics", async () => {
    const dir = tempDir()
    writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: served
    source: { type: generate, count: 2000, seed: 8, users: 50000, envIds: ["${defaultEnvIds[0]}"] }
    enrich: { flags: { type: postgres, url: "\${FLAGS_URL}" } }
    sink: { type: file, path: out/events.ndjson }
    pollInterval: 100ms
`
    )
    const running = start(["run", "pipeline.yaml", "--listen", "127.0.0.1:0"], { cwd: dir, env: { FLAGS_URL: db.url } })
    try {
      const base = await waitFor("the listening record", () => {
        const record = jsonLines(running.stderr()).find((r) => r["message"] === "listening")
        return record === undefined ? undefined : String(record["url"])
      })
      let status: Record<string, unknown> | undefined
      for (const deadline = Date.now() + 30_000; status?.["exported"] !== 2000; await sleep(50)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for all 2000 exported: ${JSON.stringify(status)}`)
        status = ((await (await fetch(`${base}/status`)).json()) as { pipelines: Array<Record<string, unknown>> }).pipelines[0]
      }
      const out = readNdjson(path.join(dir, "out", "events.ndjson")) as unknown as Array<Record<string, unknown>>
      const unknown = out.filter((e) => e["event"] === "FlagValue" && e["variationName"] === undefined)
      expect(unknown.length).toBeGreaterThan(0)
      expect(unknown.every((e) => e["flagKey"] === pool.at(-1)!.key)).toBe(true)
      expect(status["unenriched"]).toBe(unknown.length)
      const metrics = await (await fetch(`${base}/metrics`)).text()
      expect(metrics).toContain(`featbit_export_events_unenriched_total{pipeline="served"} ${unknown.length}\n`)
    } finally {
      running.child.kill("SIGTERM")
    }
  })

  it("an unreachable catalogue makes the pipeline wait and retry, not export unenriched events", async () => {
    const dir = tempDir()
    writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: waiting
    source: { type: generate, count: 100, seed: 5 }
    enrich: { flags: { type: postgres, url: "postgres://postgres@127.0.0.1:1/featbit" } }
    retry: { initialDelay: 10ms, maxDelay: 20ms, maxRetries: 2 }
    sink: { type: file, path: out/events.ndjson }
`
    )
    const result = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir })
    expect(result.code).toBe(1)
    const records = jsonLines(result.stderr)
    expect(records.filter((r) => r["level"] === "warn" && String(r["message"]).includes("FeatBit's flags"))).toHaveLength(2)
    expect(records.find((r) => r["level"] === "error")?.["message"]).toMatch(/FeatBit's flags: .*gave up: the retries are used up/)
    expect(records.find((r) => r["message"] === "done")).toBeUndefined()
  })

  it("an evaluation server down, then back: the pipeline waits, retries, and exports every event enriched", async () => {
    const secret = "server-secret-of-the-first-env-0123456789ab"
    const flags = pool.map((flag) => ({ key: flag.key, name: `Flag ${flag.key}`, variationType: "number", variations: flag.variationIds.map((id, i) => ({ id, name: `V${i}`, value: String(i * 10) })), isArchived: false }))
    const server = await evaluationServer(new Map([[secret, flags]]))
    try {
      server.fault(503, 503)
      const dir = tempDir()
      writeFile(
        dir,
        "pipeline.yaml",
        `pipelines:
  - name: api
    source: { type: generate, count: 2000, seed: 6, users: 50000, envIds: ["${defaultEnvIds[0]}"] }
    enrich: { flags: { type: evaluation-server, url: "${server.url}", secrets: { "${defaultEnvIds[0]}": "\${SERVER_SECRET}" } } }
    retry: { initialDelay: 10ms, maxDelay: 50ms, maxRetries: 5 }
    sink: { type: file, path: out/events.ndjson }
`
      )
      const result = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir, env: { SERVER_SECRET: secret } })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).not.toContain(secret)
      const warnings = jsonLines(result.stderr).filter((r) => r["level"] === "warn" && String(r["message"]).includes("HTTP 503"))
      expect(warnings).toHaveLength(2)
      const out = readNdjson(path.join(dir, "out", "events.ndjson")) as unknown as Array<Record<string, unknown>>
      expect(out).toHaveLength(2000)
      const flagEvents = out.filter((e) => e["event"] === "FlagValue")
      expect(flagEvents.length).toBeGreaterThan(1000)
      for (const event of flagEvents) expect(typeof event["variationValue"]).toBe("number")
      expect(server.requests.every((r) => r.authorization === secret)).toBe(true)
    } finally {
      await server.stop()
    }
  })

  it("check reads the catalogue of each environment it can name, and says what to fix", async () => {
    const secret = "server-secret-of-the-first-env-0123456789ab"
    const server = await evaluationServer(new Map([[secret, []]]))
    try {
      const dir = tempDir()
      writeFile(
        dir,
        "pipeline.yaml",
        `pipelines:
  - name: pg
    source: { type: generate, count: 10, envIds: ["${defaultEnvIds[0]}"] }
    enrich: { flags: { type: postgres, url: "\${FLAGS_URL}" } }
    sink: { type: file, path: out/a.ndjson }
  - name: probe
    source: { type: generate, count: 10 }
    enrich: { flags: { type: postgres, url: "\${FLAGS_URL}", schema: no_such_schema } }
    sink: { type: file, path: out/b.ndjson }
  - name: refused
    source: { type: generate, count: 10 }
    enrich: { flags: { type: evaluation-server, url: "${server.url}", secrets: { "${defaultEnvIds[1]}": "\${WRONG_SECRET}" } } }
    sink: { type: file, path: out/c.ndjson }
`
      )
      const wrong = "not-the-server-secret-0123456789abcdefgh"
      const result = await cli(["check", "pipeline.yaml"], { cwd: dir, env: { FLAGS_URL: db.url, WRONG_SECRET: wrong } })
      expect(result.code).toBe(1)
      const enrich = jsonLines(result.stderr).filter((r) => r["side"] === "enrich")
      expect(enrich.map((r) => [r["pipeline"], r["ok"]])).toEqual([["pg", true], ["probe", false], ["refused", false]])
      expect(enrich[0]!["message"]).toBe(`FeatBit's flags read (${defaultEnvIds[0]}: ${pool.length - 1} flags)`)
      expect(String(enrich[1]!["message"])).toMatch(/^FeatBit's flags: .*no_such_schema.*; set enrich\.flags\.schema \(FeatBit keeps its flags in public\.feature_flags\)$/)
      expect(enrich[2]!["message"]).toContain(`refused the server secret of environment ${defaultEnvIds[1]} (HTTP 401); set enrich.flags.secrets.${defaultEnvIds[1]}`)
      expect(result.stderr + result.stdout).not.toContain(wrong)
    } finally {
      await server.stop()
    }
  })

  it("preview shows enriched events", async () => {
    const dir = tempDir()
    writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: shown
    source: { type: generate, count: 300, seed: 5, envIds: ["${defaultEnvIds[0]}"] }
    enrich: { flags: { type: postgres, url: "\${FLAGS_URL}" } }
    sink: { type: file, path: out/events.ndjson }
`
    )
    const result = await cli(["preview", "pipeline.yaml", "--limit", "50"], { cwd: dir, env: { FLAGS_URL: db.url } })
    expect(result.code, result.stderr).toBe(0)
    const shown = result.stdout.trimEnd().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>)
    const known = shown.filter((e) => e["event"] === "FlagValue" && e["flagKey"] !== pool.at(-1)!.key)
    expect(known.length).toBeGreaterThan(10)
    for (const event of known) {
      expect(event["flagName"]).toBe(`Flag ${String(event["flagKey"])}`)
      expect(event["variationValue"]).toBe(event["variationName"] === "On")
      expect(String(event["variationName"])).toMatch(/^(On|Off \d+)$/)
    }
  })
})
