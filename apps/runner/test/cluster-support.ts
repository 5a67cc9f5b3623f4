// What the tests of runners sharing pipelines through PostgreSQL (cluster.test.ts, chaos.test.ts) have in
// common: a pipeline file of generated pipelines sharing their state, runner processes of the built CLI,
// their /status, and the state database's checkpoints and audit of commits.
import * as fs from "node:fs"
import * as path from "node:path"
import pg from "pg"
import { afterAll, afterEach, beforeAll, expect } from "vitest"
import { stateDatabase } from "../../../packages/state-postgres/test/support.js"
import { type Running, assertBuilt, jsonLines, readNdjson, sleep, start } from "./support.js"

export const PIPELINES = ["p1", "p2", "p3", "p4", "p5", "p6"]

/** The batch size of `clusterFile`'s pipelines; their inFlight is the default, `IN_FLIGHT`. */
export const BATCH_SIZE = 500
export const IN_FLIGHT = 4

/** A fixed start for the generated rows' times: now, in the microseconds FeatBit stores. */
export const startNow = (): string => new Date().toISOString().replace("Z", "000Z")

/**
 * A file of `names` pipelines, each generating `count` events at `rate` into a file of its own, sharing state in
 * `schema`. The rows' times start at a fixed `start`, so a runner that takes a pipeline over generates the
 * same rows as the one before it and resumes after the shared cursor. Pipeline i (from 0) has seed i + 1.
 */
export const clusterFile = (schema: string, names: ReadonlyArray<string>, count: number, rate: string, start = startNow()) =>
  `state: { postgres: { url: "\${STATE_URL}", schema: ${schema}, audit: true } }
cluster: { runner: "\${FEATBIT_EXPORT_RUNNER}", lockExpiry: 3s, lockRefresh: 1s, assignInterval: 500ms }
pipelines:
${names
  .map(
    (name, i) => `  - name: ${name}
    source: { type: generate, count: ${count}, seed: ${i + 1}, rate: ${rate}, start: "${start}" }
    sink: { type: file, path: out/${name}.ndjson }
    batch: { size: ${BATCH_SIZE} }
    pollInterval: 200ms
`
  )
  .join("")}`

export interface PipelineStatus {
  readonly pipeline: string
  readonly state: string
  readonly exported: number
  /** Who claimed the pipeline last, as this runner read it from the checkpoints. */
  readonly claimedBy?: { readonly runner: string; readonly epoch: string | number } | null
}

export const endpointOf = async (running: Running): Promise<string> => {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await sleep(50)) {
    const record = jsonLines(running.stderr()).find((r) => r["message"] === "listening")
    if (record !== undefined) return String(record["url"])
  }
  throw new Error(`no listening record: ${running.stderr()}`)
}

export const statusOf = async (base: string): Promise<ReadonlyArray<PipelineStatus>> =>
  ((await (await fetch(`${base}/status`, { signal: AbortSignal.timeout(1_000) })).json()) as { pipelines: ReadonlyArray<PipelineStatus> }).pipelines

/** Which runner (by index) runs each pipeline now; a pipeline run by two would be a bug, and throws. */
export const owners = async (bases: ReadonlyArray<string | undefined>): Promise<Map<string, number>> => {
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

export const waitUntil = async <A>(what: string, check: () => Promise<A | undefined>, timeoutMs: number): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/**
 * What a pipeline's file holds: lines, distinct ids, and how many of the `count` generated events are not
 * there (the generator gives each of its rows an id of its own, so `count` distinct ids are all of them).
 */
export const delivered = (dir: string, name: string, count: number) => {
  const file = path.join(dir, "out", `${name}.ndjson`)
  const lines = fs.existsSync(file) ? readNdjson(file) : []
  const ids = new Set(lines.map((line) => line.id))
  return { lines: lines.length, distinct: ids.size, missing: count - ids.size }
}

/** A row of the audit of commits. */
export interface Commit {
  readonly pipeline: string
  readonly epoch: bigint
  readonly owner: string
  readonly cursorTimestamp: string
  readonly cursorId: string
  readonly exported: number
  readonly committedAt: Date
}

/**
 * The test file's own state database (made before its tests, dropped after them), runner processes that are
 * SIGKILLed after each test (SIGCONT first, in case one was paused), and what the database holds.
 */
export const clusterHarness = () => {
  beforeAll(assertBuilt)

  let db: Awaited<ReturnType<typeof stateDatabase>> | undefined
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

  const url = (): string => {
    if (db === undefined) throw new Error("the state database is not made yet")
    return db.url
  }

  const query = async <R extends pg.QueryResultRow>(sql: string): Promise<Array<R>> => {
    const client = new pg.Client({ connectionString: url() })
    await client.connect()
    try {
      return (await client.query<R>(sql)).rows
    } finally {
      await client.end()
    }
  }

  /** A runner process named `name` of the pipeline file in `dir`, serving /status on a port of its own. */
  const runner = (dir: string, name: string): Running => {
    const running = start(["run", "pipeline.yaml", "--listen", "127.0.0.1:0"], { cwd: dir, env: { STATE_URL: url(), FEATBIT_EXPORT_RUNNER: name } })
    children.push(running)
    return running
  }

  /** Every commit the audit recorded in `schema`, in the order they were made. */
  const commits = async (schema: string): Promise<Array<Commit>> =>
    (
      await query<{ pipeline: string; epoch: string; owner: string; cursor_timestamp: string; cursor_id: string; exported: string; committed_at: Date }>(
        `SELECT pipeline, epoch::text, owner, cursor_timestamp, cursor_id, exported::text, committed_at FROM ${schema}.featbit_export_commits ORDER BY id`
      )
    ).map((row) => ({
      pipeline: row.pipeline,
      epoch: BigInt(row.epoch),
      owner: row.owner,
      cursorTimestamp: row.cursor_timestamp,
      cursorId: row.cursor_id,
      exported: Number(row.exported),
      committedAt: row.committed_at
    }))

  /**
   * The audit of commits: per pipeline, the cursor (timestamp then id, as text) never moves backwards, no
   * epoch commits after a newer one did, and one runner alone commits in each epoch. Returns the commits.
   */
  const checkAudit = async (schema: string): Promise<Array<Commit>> => {
    const rows = await commits(schema)
    const last = new Map<string, { epoch: bigint; key: string }>()
    const ownersByEpoch = new Map<string, string>()
    for (const row of rows) {
      const key = `${row.cursorTimestamp} ${row.cursorId}`
      const before = last.get(row.pipeline)
      if (before !== undefined) {
        expect(row.epoch >= before.epoch, `${row.pipeline}: epoch ${row.epoch} committed after epoch ${before.epoch}`).toBe(true)
        expect(key >= before.key, `${row.pipeline}: cursor moved back from ${before.key} to ${key}`).toBe(true)
      }
      last.set(row.pipeline, { epoch: row.epoch, key })
      const who = `${row.pipeline}#${row.epoch}`
      expect(ownersByEpoch.get(who) ?? row.owner, `two runners committed for ${who}`).toBe(row.owner)
      ownersByEpoch.set(who, row.owner)
    }
    return rows
  }

  /** How many times each pipeline was claimed (its checkpoint's epoch). */
  const epochs = async (schema: string): Promise<Map<string, number>> =>
    new Map(
      (await query<{ pipeline: string; epoch: string }>(`SELECT pipeline, epoch::text FROM ${schema}.featbit_export_checkpoints`)).map((row) => [
        row.pipeline,
        Number(row.epoch)
      ])
    )

  return { url, query, runner, commits, checkAudit, epochs }
}
