// Several runners sharing their pipelines through PostgreSQL (state: postgres://, each pipeline a singleton
// of @effect/cluster), through the built CLI: three runner processes on this machine against the real
// PostgreSQL; the owner of a pipeline SIGKILLed or SIGSTOPped, and what the audit of commits shows after.
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { stateDatabase } from "../../../packages/state-postgres/test/support.js"
import { type Running, assertBuilt, jsonLines, readNdjson, sleep, start, tempDir, writeFile } from "./support.js"

beforeAll(assertBuilt)

let db: Awaited<ReturnType<typeof stateDatabase>>
beforeAll(async () => {
  db = await stateDatabase()
})
afterAll(async () => db?.drop())

const children: Array<Running> = []
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.child.exitCode === null && child.child.signalCode === null) {
      child.child.kill("SIGCONT")
      child.child.kill("SIGKILL")
    }
  }
})

const PIPELINES = ["p1", "p2", "p3", "p4", "p5", "p6"]

/**
 * A file of `names` pipelines, each generating `count` events at `rate` into a file of its own, sharing state in
 * `schema`. The rows' times start at a fixed `start`, so a runner that takes a pipeline over generates the
 * same rows as the one before it and resumes after the shared cursor.
 */
const clusterFile = (schema: string, names: ReadonlyArray<string>, count: number, rate: string, start = new Date().toISOString().replace("Z", "000Z")) =>
  `state: { postgres: { url: "\${STATE_URL}", schema: ${schema}, audit: true } }
cluster: { runner: "\${FEATBIT_EXPORT_RUNNER}", lockExpiry: 3s, lockRefresh: 1s, assignInterval: 500ms }
pipelines:
${names
  .map(
    (name, i) => `  - name: ${name}
    source: { type: generate, count: ${count}, seed: ${i + 1}, rate: ${rate}, start: "${start}" }
    sink: { type: file, path: out/${name}.ndjson }
    batch: { size: 500 }
    pollInterval: 200ms
`
  )
  .join("")}`

const runner = (dir: string, name: string): Running => {
  const running = start(["run", "pipeline.yaml", "--listen", "127.0.0.1:0"], { cwd: dir, env: { STATE_URL: `${db.url}`, FEATBIT_EXPORT_RUNNER: name } })
  children.push(running)
  return running
}

interface PipelineStatus {
  readonly pipeline: string
  readonly state: string
  readonly exported: number
}

const endpointOf = async (running: Running): Promise<string> => {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(50)) {
    const record = jsonLines(running.stderr()).find((r) => r["message"] === "listening")
    if (record !== undefined) return String(record["url"])
  }
  throw new Error(`no listening record: ${running.stderr()}`)
}

const statusOf = async (base: string): Promise<ReadonlyArray<PipelineStatus>> =>
  ((await (await fetch(`${base}/status`, { signal: AbortSignal.timeout(1_000) })).json()) as { pipelines: ReadonlyArray<PipelineStatus> }).pipelines

/** Which runner (by index) runs each pipeline now; a pipeline run by two would be a bug, and throws. */
const owners = async (bases: ReadonlyArray<string | undefined>): Promise<Map<string, number>> => {
  const found = new Map<string, number>()
  for (const [i, base] of bases.entries()) {
    if (base === undefined) continue
    const status = await statusOf(base).catch(() => undefined)
    for (const p of status ?? []) {
      if (p.state === "elsewhere" || p.state === "stopped") continue
      if (found.has(p.pipeline)) throw new Error(`pipeline ${p.pipeline} runs on runners ${found.get(p.pipeline)} and ${i}`)
      found.set(p.pipeline, i)
    }
  }
  return found
}

const waitUntil = async <A>(what: string, check: () => Promise<A | undefined>, timeoutMs: number): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** The audit of commits: per pipeline, the cursor never moves backwards, and no epoch commits after a newer one did. */
const checkAudit = async (schema: string) => {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    const { rows } = await client.query<{ pipeline: string; epoch: string; owner: string; cursor_timestamp: string; cursor_id: string }>(
      `SELECT pipeline, epoch::text, owner, cursor_timestamp, cursor_id FROM ${schema}.featbit_export_commits ORDER BY id`
    )
    const last = new Map<string, { epoch: bigint; key: string }>()
    const ownersByEpoch = new Map<string, string>()
    for (const row of rows) {
      const key = `${row.cursor_timestamp} ${row.cursor_id}`
      const epoch = BigInt(row.epoch)
      const before = last.get(row.pipeline)
      if (before !== undefined) {
        expect(epoch >= before.epoch, `${row.pipeline}: epoch ${epoch} committed after epoch ${before.epoch}`).toBe(true)
        expect(key >= before.key, `${row.pipeline}: cursor moved back from ${before.key} to ${key}`).toBe(true)
      }
      last.set(row.pipeline, { epoch, key })
      const who = `${row.pipeline}#${row.epoch}`
      expect(ownersByEpoch.get(who) ?? row.owner, `two runners committed for ${who}`).toBe(row.owner)
      ownersByEpoch.set(who, row.owner)
    }
    return rows.length
  } finally {
    await client.end()
  }
}

/** How many times each pipeline was claimed (its checkpoint's epoch). */
const epochs = async (schema: string): Promise<Map<string, number>> => {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    const { rows } = await client.query<{ pipeline: string; epoch: string }>(`SELECT pipeline, epoch::text FROM ${schema}.featbit_export_checkpoints`)
    return new Map(rows.map((row) => [row.pipeline, Number(row.epoch)]))
  } finally {
    await client.end()
  }
}

/**
 * What a pipeline's file holds: lines, distinct ids, and how many of the `count` generated events are not
 * there (the generator gives each of its rows an id of its own, so `count` distinct ids are all of them).
 */
const delivered = (dir: string, name: string, count: number) => {
  const file = path.join(dir, "out", `${name}.ndjson`)
  const lines = fs.existsSync(file) ? readNdjson(file) : []
  const ids = new Set(lines.map((line) => line.id))
  return { lines: lines.length, distinct: ids.size, missing: count - ids.size }
}

describe("runners sharing pipelines through PostgreSQL", () => {
  it("each pipeline runs on exactly one runner; a SIGKILLed owner's pipelines move within 10 s and resume from the shared checkpoint", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", clusterFile("kill", PIPELINES, 40_000, "2000/s"))
    const runners = ["r1", "r2", "r3"].map((name) => runner(dir, name))
    const bases: Array<string | undefined> = await Promise.all(runners.map(endpointOf))
    // The first runner up takes every shard; the others get theirs as they join: wait for the spread to settle.
    let before = new Map<string, number>()
    let settled = 0
    await waitUntil("all six pipelines placed, the same for 2 s", async () => {
      const placed = await owners(bases)
      const same = placed.size === PIPELINES.length && [...placed].every(([name, owner]) => before.get(name) === owner)
      before = placed
      settled = same ? settled + 1 : 0
      return settled >= 20 ? true : undefined
    }, 40_000)
    const spread = [0, 1, 2].map((i) => [...before.values()].filter((owner) => owner === i).length)
    console.log(`spread of 6 pipelines on 3 runners: ${spread.join("/")}`)
    // spread: even (the default): a shard per pipeline, and the cluster balances shards.
    expect(spread).toEqual([2, 2, 2])
    // Kill the runner holding the most pipelines, once they have committed something.
    const victim = spread.indexOf(Math.max(...spread))
    const moved = [...before].filter(([, owner]) => owner === victim).map(([name]) => name)
    await sleep(2_000)
    const killedAt = Date.now()
    runners[victim]!.child.kill("SIGKILL")
    bases[victim] = undefined
    const after = await waitUntil("the killed runner's pipelines to run elsewhere", async () => {
      const placed = await owners(bases)
      return moved.every((name) => placed.has(name)) ? placed : undefined
    }, 20_000)
    const takeoverMs = Date.now() - killedAt
    console.log(`takeover after SIGKILL: ${takeoverMs} ms for ${moved.join(", ")}`)
    expect(takeoverMs).toBeLessThan(10_000)
    for (const name of moved) expect(after.get(name)).not.toBe(victim)
    // Every event delivered by the end; duplicates only from batches that were not acknowledged.
    await waitUntil("every pipeline to export its 40,000 events", async () => {
      const totals = PIPELINES.map((name) => delivered(dir, name, 40_000))
      return totals.every((t) => t.missing === 0) ? totals : undefined
    }, 60_000)
    // Each claim after the first (a move: the kill, or the spread settling) may deliver again the batches the
    // runner before had at the sink, unacknowledged: at most inFlight (4) × 500 per move, none otherwise.
    const claims = await epochs("kill")
    for (const name of PIPELINES) {
      const total = delivered(dir, name, 40_000)
      expect(total.lines - total.distinct, name).toBeLessThanOrEqual((claims.get(name)! - 1) * 4 * 500)
    }
    for (const name of moved) expect(claims.get(name)).toBeGreaterThan(1)
    expect(await checkAudit("kill")).toBeGreaterThan(0)
  }, 120_000)

  it("a runner paused past the lock expiry loses its pipelines; resumed, its commits are refused and it writes nothing stale", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", clusterFile("pause", ["only"], 60_000, "2000/s"))
    const both = [runner(dir, "one"), runner(dir, "two")]
    const bases = await Promise.all(both.map(endpointOf))
    // Once both have joined, and the pipeline has been on the same runner for 3 s, pause that one.
    let holder = -1
    let since = Date.now()
    await waitUntil("the pipeline to stay on one runner for 3 s", async () => {
      const now = (await owners(bases)).get("only") ?? -1
      if (now !== holder) [holder, since] = [now, Date.now()]
      return holder >= 0 && Date.now() - since > 3_000 ? true : undefined
    }, 40_000)
    const first = both[holder]!
    const firstBase = bases[holder]!
    const standbyBases = bases.map((base, i) => (i === holder ? undefined : base))
    first.child.kill("SIGSTOP")
    const stoppedAt = Date.now()
    await waitUntil("the standby to take over", async () => ((await owners(standbyBases)).has("only") ? true : undefined), 20_000)
    const takeoverMs = Date.now() - stoppedAt
    console.log(`takeover after SIGSTOP: ${takeoverMs} ms`)
    expect(takeoverMs).toBeLessThan(10_000)
    await sleep(Math.max(0, 20_000 - takeoverMs))
    const linesBeforeResume = readNdjson(path.join(dir, "out", "only.ndjson")).length
    first.child.kill("SIGCONT")
    await waitUntil("the resumed runner to say it was fenced or lost the pipeline", async () =>
      /another runner took it over/.test(first.stderr()) || (await owners([firstBase]).catch(() => new Map())).size === 0 ? true : undefined,
    20_000)
    await waitUntil("all 60,000 exported", async () => (delivered(dir, "only", 60_000).missing === 0 ? true : undefined), 60_000)
    const total = delivered(dir, "only", 60_000)
    // The zombie may have written the batches it had at the sink when it was paused, never more.
    expect(total.lines - total.distinct).toBeLessThanOrEqual(4 * 500)
    expect(linesBeforeResume).toBeGreaterThan(0)
    expect(await checkAudit("pause")).toBeGreaterThan(0)
    expect(fs.existsSync(path.join(dir, ".featbit-export", "only.checkpoint.json"))).toBe(false)
  }, 120_000)
})
