// The runner as a service, through the built CLI: its HTTP endpoint during an export, supervised pipelines
// (a fatal failure stops one pipeline, a passing one that outlives its retries is restarted), and a stop
// while a far end keeps failing.
import * as fs from "node:fs"
import * as path from "node:path"
import { Timestamp } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { type SegmentReceiver, startSegmentReceiver } from "@featbit-export/testkit"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import {
  ADMIN_USER,
  HOST,
  PORT,
  createDatabase,
  createEventsTable,
  indexForKeyset,
  insertRows,
  serverNow,
  uniqueName
} from "../../../packages/source-postgres/test/support/pg.js"
import { encodings } from "./secrets-doubles.js"
import { type Running, assertBuilt, jsonLines, start, tempDir, waitFor, writeFile } from "./support.js"

beforeAll(assertBuilt)

const receivers: Array<SegmentReceiver> = []
const children: Array<Running> = []
afterEach(async () => {
  for (const child of children.splice(0)) if (child.child.exitCode === null) child.child.kill("SIGKILL")
  for (const receiver of receivers.splice(0)) await receiver.stop()
})

const receiver = async (writeKey: string): Promise<SegmentReceiver> => {
  const started = await startSegmentReceiver({ writeKey })
  receivers.push(started)
  return started
}

const run = (dir: string, args: ReadonlyArray<string>): Running => {
  const running = start(["run", "pipeline.yaml", "--listen", "127.0.0.1:0", ...args], { cwd: dir })
  children.push(running)
  return running
}

/** The endpoint's base URL, from the runner's "listening" record. */
const endpointOf = (running: Running): Promise<string> =>
  waitFor("the listening record", () => {
    const record = jsonLines(running.stderr()).find((r) => r["message"] === "listening")
    return record === undefined ? undefined : String(record["url"])
  })

interface Status {
  readonly pipelines: ReadonlyArray<{ pipeline: string; state: string; exported: number; restarts: number; lastError: { message: string } | null }>
}

const statusOf = async (base: string): Promise<Status> => (await (await fetch(`${base}/status`)).json()) as Status

/** The value of one sample of the Prometheus text, e.g. `featbit_export_events_exported_total{pipeline="a"}`. */
const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

const generateTo = (name: string, sink: string, extra = "") =>
  `  - name: ${name}
    source: { type: generate, count: 6000, rate: 3000/s, seed: 3 }
    sink: ${sink}
    batch: { size: 500 }
    pollInterval: 100ms
${extra}`

/** Polls `check` until it gives a value, or fails after `timeoutMs`. */
const poll = async <A>(what: string, check: () => Promise<A | undefined>, timeoutMs = 30_000): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const pipelineOf = (status: Status, name: string) => status.pipelines.find((p) => p.pipeline === name)!

/** A running pipeline into a Segment receiver that answers its first `refusals` requests with 503. */
const refusedAtFirst = async (name: string, refusals: number, retry: string) => {
  const segment = await receiver("the-right-write-key")
  segment.enqueueFaults(...Array.from({ length: refusals }, () => ({ kind: "503" as const })))
  const dir = tempDir()
  const sink = `{ type: segment, endpoint: "${segment.url}", writeKey: the-right-write-key }`
  writeFile(dir, "pipeline.yaml", "pipelines:\n" + generateTo(name, sink, `    retry: ${retry}\n`))
  return { segment, running: run(dir, []) }
}

describe("the HTTP endpoint and supervised pipelines", () => {
  it("a sink that refuses its credentials fails its pipeline alone: /readyz says so, the other exports on, /metrics matches the summary, and no form of the key is shown", async () => {
    const canary = `cn"writekey\\q/7+=&z`
    const segment = await receiver("the-right-write-key")
    const dir = tempDir()
    writeFile(
      dir,
      "pipeline.yaml",
      "pipelines:\n" +
        generateTo("good", "{ type: file, path: out/good.ndjson }") +
        generateTo("refused", `{ type: segment, endpoint: "${segment.url}", writeKey: '${canary}' }`)
    )
    const running = run(dir, [])
    const base = await endpointOf(running)
    expect(await (await fetch(`${base}/healthz`)).text()).toBe("ok\n")
    const failedStatus = await poll("the refused pipeline to fail", async () => {
      const status = await statusOf(base)
      const refused = pipelineOf(status, "refused")
      return refused.state === "failed" && refused.lastError !== null ? status : undefined
    })
    expect(pipelineOf(failedStatus, "refused").lastError?.message).toMatch(/write key/)
    const ready = await fetch(`${base}/readyz`)
    expect(ready.status).toBe(503)
    const reasons = await ready.text()
    expect(reasons).toMatch(/^refused: failed \(/)
    expect(reasons).not.toMatch(/^good/m)
    // The other pipeline goes on to export everything, and then waits for new rows.
    const caughtUp = await poll("the good pipeline to export all 6000", async () => {
      const status = await statusOf(base)
      return pipelineOf(status, "good").exported === 6000 && pipelineOf(status, "good").state === "waiting" ? status : undefined
    })
    expect(pipelineOf(caughtUp, "good").restarts).toBe(0)
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(sample(metrics, 'featbit_export_events_exported_total{pipeline="good"}')).toBe(6000)
    // Pages follow the rate, so their number is the run's own: the summary must agree with the scrape.
    const batches = sample(metrics, 'featbit_export_batches_total{pipeline="good"}')!
    expect(batches).toBeGreaterThanOrEqual(12)
    expect(sample(metrics, 'featbit_export_pipeline_state{pipeline="refused",state="failed"}')).toBe(1)
    expect(sample(metrics, 'featbit_export_failures_total{pipeline="refused",class="fatal"}')).toBe(1)
    expect(sample(metrics, 'featbit_export_write_duration_seconds_count{pipeline="good"}')).toBe(batches)
    expect(sample(metrics, 'featbit_export_read_duration_seconds_count{pipeline="good"}')).toBeGreaterThan(0)
    expect(metrics).toMatch(/^process_cpu_seconds_total /m)
    const bodies = [metrics, reasons, JSON.stringify(await statusOf(base))]

    running.child.kill("SIGTERM")
    const done = await running.finished
    // A pipeline failed, so the run did.
    expect(done.code).toBe(1)
    const summary = jsonLines(done.stderr).find((r) => r["message"] === "done" && r["pipeline"] === "good")
    expect(summary).toMatchObject({ exported: 6000, batches })
    for (const [encoding, form] of Object.entries(encodings(canary))) {
      for (const text of [...bodies, done.stderr, done.stdout]) expect(text.includes(form), encoding).toBe(false)
    }
    expect(segment.stats().acceptedRequests).toBe(0)
  })

  it("a pipeline whose retries run out is started again after its backoff, and delivers everything once", async () => {
    // Five refusals in a row: the first attempt and its two retries fail, the restarted run gets two more.
    const { segment, running } = await refusedAtFirst("flaky", 5, "{ initialDelay: 10ms, maxDelay: 50ms, maxRetries: 2 }")
    const base = await endpointOf(running)
    const status = await poll("the restarted pipeline to export all 6000", async () => {
      const s = await statusOf(base)
      return pipelineOf(s, "flaky").exported === 6000 ? s : undefined
    })
    expect(pipelineOf(status, "flaky").restarts).toBe(1)
    expect(pipelineOf(status, "flaky").lastError?.message).toMatch(/gave up: the retries are used up/)
    expect((await fetch(`${base}/readyz`)).status).toBe(200)
    running.child.kill("SIGTERM")
    const done = await running.finished
    expect(done.code, done.stderr).toBe(0)
    const restarting = jsonLines(done.stderr).filter((r) => r["level"] === "warn" && String(r["message"]).includes("restarting in"))
    expect(restarting.map((r) => r["message"])).toEqual([expect.stringMatching(/; restarting in 50ms \(restart 1\)$/)])
    const tracked = segment.messageIds("track")
    expect(new Set(tracked).size).toBe(6000)
  })

  it("--fail-fast stops every pipeline at the first failure, as before", async () => {
    const segment = await receiver("the-right-write-key")
    const dir = tempDir()
    writeFile(
      dir,
      "pipeline.yaml",
      "pipelines:\n" +
        generateTo("good", "{ type: file, path: out/good.ndjson }").replace("count: 6000, rate: 3000/s", "rate: 100/s") +
        generateTo("refused", `{ type: segment, endpoint: "${segment.url}", writeKey: wrong-write-key }`)
    )
    const done = await run(dir, ["--fail-fast"]).finished
    expect(done.code).toBe(1)
    const records = jsonLines(done.stderr)
    expect(records.find((r) => r["pipeline"] === "good" && r["message"] === "done")).toBeDefined()
    expect(records.find((r) => r["pipeline"] === "refused" && r["level"] === "error")?.["message"]).toMatch(/write key/)
  })

  it("a stop while a batch waits to be retried exits 0 at once, leaving the batch for next time", async () => {
    // Waits of up to ten minutes between attempts.
    const { segment, running } = await refusedAtFirst("patient", 50, "{ initialDelay: 10m, maxDelay: 10m, maxRetries: 10 }")
    const base = await endpointOf(running)
    await poll("a retry", async () => ((await statusOf(base)).pipelines[0]!.state === "reading" && segment.stats().requests >= 1 ? true : undefined))
    await poll("the first retry to be counted", async () => {
      const metrics = await (await fetch(`${base}/metrics`)).text()
      return (sample(metrics, 'featbit_export_failures_total{pipeline="patient",class="transient"}') ?? 0) >= 1 ? true : undefined
    })
    running.child.kill("SIGTERM")
    const done = await running.finished
    expect(done.code, done.stderr).toBe(0)
    expect(jsonLines(done.stderr).find((r) => r["message"] === "done")).toMatchObject({ exported: 0 })
    // The batch was not attempted again after the stop.
    expect(segment.stats().requests).toBe(1)
  })

  it("on a live PostgreSQL table, /metrics counts the late rows it delivers and how far behind the store it follows", async () => {
    const db = await createDatabase("service")
    try {
      const schema = uniqueName("s")
      const table = await createEventsTable(db, schema)
      await indexForKeyset(db, table)
      const now = await serverNow(db)
      // 3,000 events of thousands of users over the ten minutes before the store's clock.
      const recent = [...generateRows({ count: 3_000, seed: 11, users: 50_000 })].map((row, i) => ({ ...row, timestamp: Timestamp.fromMillis(now - 600_000 + i * 200) }))
      await insertRows(db, table, recent)
      const userOf = (row: (typeof recent)[number]) => (JSON.parse(String(row.properties)) as { userKeyId: string }).userKeyId
      expect(new Set(recent.map(userOf)).size).toBeGreaterThan(2_000)
      const dir = tempDir()
      writeFile(
        dir,
        "pipeline.yaml",
        `pipelines:
  - name: live
    source: { type: postgres, host: ${HOST}, port: ${PORT}, user: ${ADMIN_USER}, database: ${db.name}, schema: ${schema}, lag: 0s }
    sink: { type: file, path: out/events.ndjson }
    pollInterval: 200ms
`
      )
      const running = run(dir, [])
      const base = await endpointOf(running)
      const metricsOf = async () => await (await fetch(`${base}/metrics`)).text()
      await poll("the first 3,000 events", async () => (sample(await metricsOf(), 'featbit_export_events_exported_total{pipeline="live"}') === 3_000 ? true : undefined))

      // A phone back online: 25 events of two minutes before the cursor land now, beside 40 new ones.
      const late = [...generateRows({ count: 25, seed: 12, users: 50_000 })].map((row, i) => ({ ...row, timestamp: Timestamp.fromMillis(now - 120_000 - i * 1_000) }))
      const fresh = [...generateRows({ count: 40, seed: 13, users: 50_000 })].map((row, i) => ({ ...row, timestamp: Timestamp.fromMillis(now + 1_000 + i * 10) }))
      await insertRows(db, table, [...late, ...fresh])
      const metrics = await poll("the late and new rows", async () => {
        const text = await metricsOf()
        return sample(text, 'featbit_export_events_exported_total{pipeline="live"}') === 3_065 ? text : undefined
      })
      expect(sample(metrics, 'featbit_export_late_rows_total{pipeline="live"}')).toBe(25)
      expect(sample(metrics, 'featbit_export_missed_rows_total{pipeline="live"}')).toBe(0)
      // With lag 0s and a poll every 200 ms, it follows within seconds of the store's clock.
      const behind = await poll("a pass after the last rows", async () => {
        const value = sample(await metricsOf(), 'featbit_export_behind_seconds{pipeline="live"}')
        return value !== undefined && value < 5 ? value : undefined
      })
      expect(behind).toBeGreaterThanOrEqual(0)
      expect(sample(metrics, 'featbit_export_pipeline_state{pipeline="live",state="failed"}')).toBe(0)

      running.child.kill("SIGTERM")
      const done = await running.finished
      expect(done.code, done.stderr).toBe(0)
      expect(jsonLines(done.stderr).find((r) => r["message"] === "done")).toMatchObject({ exported: 3_065, late: 25, missed: 0 })
      const ids = fs.readFileSync(path.join(dir, "out", "events.ndjson"), "utf8").trimEnd().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)
      expect(ids).toHaveLength(3_065)
      expect(new Set(ids)).toEqual(new Set([...recent, ...late, ...fresh].map((row) => row.id)))
    } finally {
      await db.drop()
    }
  })
})
