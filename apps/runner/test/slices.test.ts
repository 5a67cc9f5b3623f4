// A sliced backfill (slices: N) on three runner processes sharing a PostgreSQL state: FeatBit's events in
// the real PostgreSQL (production-shaped rows over three hours, thousands of users), the slices spread over
// the runners, everything delivered to a Segment receiver, the live export going on from endAt, and the
// parts reported as one pipeline in /status.
import { Timestamp } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { type SegmentReceiver, startSegmentReceiver } from "@featbit-export/testkit"
import pg from "pg"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { createDatabase, createEventsTable, indexForKeyset, insertRows } from "../../../packages/source-postgres/test/support/pg.js"
import { stateDatabase } from "../../../packages/state-postgres/test/support.js"
import { type Running, assertBuilt, jsonLines, sleep, start, tempDir, writeFile } from "./support.js"

beforeAll(assertBuilt)

let state: Awaited<ReturnType<typeof stateDatabase>>
let events: Awaited<ReturnType<typeof createDatabase>>
let receiver: SegmentReceiver
const children: Array<Running> = []
const HOUR = 3_600_000
const BACKFILL = 24_000
// Three hours of history that ended an hour ago; the live export takes over at its end.
const startMs = Math.floor((Date.now() - 4 * HOUR) / 1000) * 1000
const startAt = Timestamp.fromMillis(startMs)
const endAt = Timestamp.fromMillis(startMs + 3 * HOUR)

beforeAll(async () => {
  state = await stateDatabase()
  events = await createDatabase("slices")
  const table = await createEventsTable(events, "public")
  await indexForKeyset(events, table)
  // 24,000 rows spread evenly over the three hours, 50,000 users.
  await insertRows(events, table, [...generateRows({ count: BACKFILL, seed: 9, users: 50_000, start: startAt, rate: BACKFILL / (3 * 3600) })])
  receiver = await startSegmentReceiver({ writeKey: "slices-write-key" })
})
afterAll(async () => {
  await receiver?.stop()
  await events?.drop()
  await state?.drop()
})
afterEach(() => {
  for (const child of children.splice(0)) if (child.child.exitCode === null) child.child.kill("SIGKILL")
})

const query = async <R extends pg.QueryResultRow>(url: string, sql: string): Promise<Array<R>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<R>(sql)).rows
  } finally {
    await client.end()
  }
}

describe("slices: N", () => {
  it("splits the backfill over the runners, delivers every row, goes on live from endAt, and reports one pipeline", async () => {
    const [min] = await query<{ min: Date; max: Date; n: string }>(
      `postgres://postgres@localhost:5432/${events.name}`,
      `SELECT min(timestamp) AS min, max(timestamp) AS max, count(*)::text AS n FROM events`
    )
    expect(Number(min!.n)).toBe(BACKFILL)
    const dir = tempDir()
    writeFile(
      dir,
      "pipeline.yaml",
      `state: { postgres: { url: "\${STATE_URL}", schema: sliced } }
cluster: { runner: "\${RUNNER}", lockExpiry: 3s, lockRefresh: 1s, assignInterval: 500ms }
pipelines:
  - name: history
    source: { type: postgres, url: "\${EVENTS_URL}", startAt: "${startAt}", endAt: "${endAt}", lag: 1s }
    sink: { type: segment, endpoint: "${receiver.url}", writeKey: slices-write-key }
    slices: 6
    batch: { size: 1000 }
    pollInterval: 200ms
`
    )
    const env = (name: string) => ({ STATE_URL: state.url, EVENTS_URL: `postgres://postgres@localhost:5432/${events.name}`, RUNNER: name })
    const runners = ["s1", "s2", "s3"].map((name) => {
      const running = start(["run", "pipeline.yaml", "--listen", "127.0.0.1:0"], { cwd: dir, env: env(name) })
      children.push(running)
      return running
    })
    const bases = await Promise.all(
      runners.map(async (running) => {
        for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(50)) {
          const record = jsonLines(running.stderr()).find((r) => r["message"] === "listening")
          if (record !== undefined) return String(record["url"])
        }
        throw new Error(`no listening record: ${running.stderr()}`)
      })
    )
    // The backfill: every row once or more, under its own id as messageId.
    for (const deadline = Date.now() + 90_000; new Set(receiver.messageIds()).size < BACKFILL; await sleep(200)) {
      if (Date.now() > deadline) throw new Error(`only ${new Set(receiver.messageIds()).size} of ${BACKFILL} delivered`)
    }
    // Delivered comes before committed: wait for the slices' checkpoints to add up to the backfill.
    const committed = () =>
      query<{ pipeline: string; owner: string; exported: string }>(
        state.url,
        `SELECT pipeline, owner, checkpoint->>'exported' AS exported FROM sliced.featbit_export_checkpoints WHERE pipeline LIKE 'history/slice-%' ORDER BY pipeline`
      )
    let slices = await committed()
    for (const deadline = Date.now() + 20_000; slices.reduce((n, s) => n + Number(s.exported ?? 0), 0) < BACKFILL; slices = await committed()) {
      if (Date.now() > deadline) throw new Error(`the slices committed ${JSON.stringify(slices)}`)
      await sleep(200)
    }
    expect(slices.map((s) => s.pipeline)).toEqual(Array.from({ length: 6 }, (_, i) => `history/slice-${i + 1}-of-6`))
    // Each slice read only its window: together the backfill, more only by a batch delivered again after a move.
    const total = slices.reduce((n, s) => n + Number(s.exported ?? 0), 0)
    expect(total).toBeLessThanOrEqual(BACKFILL + 6 * 4 * 1000)
    expect(new Set(slices.map((s) => s.owner)).size).toBeGreaterThan(1)
    console.log(`slices by runner: ${slices.map((s) => `${s.pipeline.slice(8)}@${s.owner}`).join(", ")}`)

    // Live: rows stamped now, after endAt, go out through the live part, under the pipeline's own name.
    const live = [...generateRows({ count: 300, seed: 10, users: 50_000, start: Timestamp.fromMillis(Date.now() - 2_000) })]
    await insertRows(events, "public.events", live)
    for (const deadline = Date.now() + 30_000; !live.every((row) => receiver.messageIds().includes(row.id)); await sleep(200)) {
      if (Date.now() > deadline) throw new Error("the live rows were not delivered")
    }
    // One pipeline in /status, wherever its parts run: the parts' totals added up.
    const statuses = await Promise.all(
      bases.map(async (base, i) => {
        const answer = await fetch(`${base}/status`).catch((error: unknown) => {
          throw new Error(`runner ${i + 1} does not answer (${String(error)}); it said:\n${runners[i]!.stderr().slice(-3000)}`)
        })
        return ((await answer.json()) as { pipelines: Array<Record<string, unknown>> }).pipelines
      })
    )
    for (const pipelines of statuses) {
      expect(pipelines.map((p) => p["pipeline"])).toEqual(["history"])
      expect((pipelines[0]!["parts"] as Array<{ part: string }>).map((p) => p.part)).toEqual([...Array.from({ length: 6 }, (_, i) => `slice ${i + 1}/6`), "live"])
    }
    // Each runner's entry adds up the parts it ran (a batch a runner sent and lost its part before the
    // acknowledgement is delivered, not counted: the next owner sends it again).
    for (const pipelines of statuses) {
      const parts = pipelines[0]!["parts"] as Array<{ exported: number }>
      expect(pipelines[0]!["exported"]).toBe(parts.reduce((n, p) => n + p.exported, 0))
    }
    expect(statuses.reduce((n, pipelines) => n + Number(pipelines[0]!["exported"]), 0)).toBeGreaterThan(BACKFILL / 2)
    // A track sent again is the same message; an identify is one per user (its messageId), from whichever batch.
    expect(receiver.stats().conflictingDuplicatesByType["track"] ?? 0).toBe(0)
    for (const [i, running] of runners.entries()) expect(running.child.exitCode, `runner ${i + 1} exited:\n${running.stderr().slice(-3000)}`).toBeNull()
  }, 180_000)
})
