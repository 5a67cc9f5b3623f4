// The CLI's commands on a shared state (state: postgres://...), through the built CLI against the real
// PostgreSQL: run --once from one folder, then checkpoints, preview, dead-letters (counts, --show, --replay)
// and another run from another folder, as other runners (or an operator's laptop) would.
import * as path from "node:path"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { stateDatabase } from "../../../packages/state-postgres/test/support.js"
import { assertBuilt, cli, jsonLines, readNdjson, stackLine, tempDir, writeFile } from "./support.js"

beforeAll(assertBuilt)

let db: Awaited<ReturnType<typeof stateDatabase>>
beforeAll(async () => {
  db = await stateDatabase()
})
afterAll(async () => db?.drop())

/** A pipeline whose label expression fails on metric events (they have no flagKey) until `fixed`. */
const pipelineFile = (fixed: boolean, count = 4000) => `state: "\${STATE_URL}"
pipelines:
  - name: exposures
    source: { type: generate, count: ${count}, seed: 21, users: 50000 }
    sink: { type: file, path: out/events.ndjson }
    transform:
      set:
        label: '${fixed ? 'event == "FlagValue" ? flagKey + "!" : eventName' : 'flagKey + "!"'}'
    deadLetters: { max: 2000 }
`

const tables = async <R extends pg.QueryResultRow>(sql: string): Promise<Array<R>> => {
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    return (await client.query<R>(sql)).rows
  } finally {
    await client.end()
  }
}

describe("state: postgres:// for the CLI's commands", () => {
  it("run keeps its cursor and dead letters in PostgreSQL; checkpoints, preview and dead-letters read them from another folder; a replay removes what it delivered", async () => {
    const here = tempDir()
    const env = { STATE_URL: db.url }
    writeFile(here, "pipeline.yaml", pipelineFile(false))
    const first = await cli(["run", "pipeline.yaml", "--once"], { cwd: here, env })
    expect(first.code, first.stderr).toBe(0)
    const done = jsonLines(first.stderr).find((r) => r["message"] === "done")!
    const failed = Number(done["deadLettered"])
    expect(failed).toBeGreaterThan(100)
    const out = readNdjson(path.join(here, "out", "events.ndjson"))
    expect(out.length + failed).toBe(4000)
    const [row] = await tables<{ epoch: string; exported: string }>("SELECT epoch::text, checkpoint->>'exported' AS exported FROM featbit_export_checkpoints WHERE pipeline = 'exposures'")
    expect(row).toEqual({ epoch: "1", exported: String(out.length) })
    expect((await tables<{ n: string }>("SELECT count(*)::text AS n FROM featbit_export_dead_letters WHERE pipeline = 'exposures'"))[0]!.n).toBe(String(failed))

    // Elsewhere: nothing of the state is in this folder, yet every command sees it.
    const there = tempDir()
    writeFile(there, "pipeline.yaml", pipelineFile(false))
    const check = await cli(["check", "pipeline.yaml"], { cwd: there, env })
    expect(jsonLines(check.stderr).find((r) => r["side"] === "state")).toMatchObject({ ok: true, message: expect.stringMatching(/ is ready: tables public\.featbit_export_\* at version 1$/) })
    const checkpoints = await cli(["checkpoints", "pipeline.yaml"], { cwd: there, env })
    const shown = jsonLines(checkpoints.stderr).find((r) => r["message"] === "checkpoint")!
    expect((shown["checkpoint"] as { exported: number }).exported).toBe(out.length)
    const preview = await cli(["preview", "pipeline.yaml", "--limit", "5"], { cwd: there, env })
    expect(preview.code, preview.stderr).toBe(0)
    expect(preview.stdout.trim()).toBe("")
    const counts = await cli(["dead-letters", "pipeline.yaml", "--log-format", "text"], { cwd: there, env })
    expect(counts.stderr).toContain(`exposures: ${failed.toLocaleString("en-US")} dead letters in "public".featbit_export_dead_letters in the state database (PostgreSQL at`)
    const show = await cli(["dead-letters", "pipeline.yaml", "--show", "2"], { cwd: there, env })
    expect(show.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { stage: string }).stage)).toEqual(["transform", "transform"])

    // The fix, replayed from the other folder: the events reach that folder's sink and leave the table.
    writeFile(there, "pipeline.yaml", pipelineFile(true))
    const replay = await cli(["dead-letters", "pipeline.yaml", "--replay", "--pipeline", "exposures"], { cwd: there, env })
    expect(replay.code, replay.stderr).toBe(0)
    expect(jsonLines(replay.stderr).find((r) => r["message"] === "replayed")).toMatchObject({ sent: failed, delivered: failed, failed: 0 })
    expect((await tables<{ n: string }>("SELECT count(*)::text AS n FROM featbit_export_dead_letters"))[0]!.n).toBe("0")
    expect(readNdjson(path.join(there, "out", "events.ndjson"))).toHaveLength(failed)

    // More rows, another runner in another folder: it goes on from the shared cursor, with a new epoch.
    writeFile(there, "pipeline.yaml", pipelineFile(true, 5000))
    const again = await cli(["run", "pipeline.yaml", "--once"], { cwd: there, env })
    expect(again.code, again.stderr).toBe(0)
    expect(jsonLines(again.stderr).find((r) => r["message"] === "done")!["exported"]).toBe(1000)
    expect((await tables<{ epoch: string }>("SELECT epoch::text FROM featbit_export_checkpoints"))[0]!.epoch).toBe("2")

    const reset = await cli(["checkpoints", "pipeline.yaml", "--reset", "--pipeline", "exposures"], { cwd: there, env })
    expect(reset.code, reset.stderr).toBe(0)
    expect((await tables<{ checkpoint: unknown; epoch: string }>("SELECT checkpoint, epoch::text FROM featbit_export_checkpoints"))[0]).toEqual({ checkpoint: null, epoch: "3" })
  })

  it("a state database that refuses the url's password says so in one sentence, without it", async () => {
    const dir = tempDir()
    const url = db.url.replace("postgres@", "nobody_here:canary-pass-for-state@")
    writeFile(dir, "pipeline.yaml", pipelineFile(true, 10))
    const check = await cli(["check", "pipeline.yaml", "--log-format", "text"], { cwd: dir, env: { STATE_URL: url } })
    expect(check.code).toBe(1)
    expect(check.stderr).toMatch(/^FAIL  state postgres: the state database \(PostgreSQL at .*\): preparing its tables failed \(28000: .*\); fix the user and password of state.postgres.url$/m)
    expect(check.stderr).not.toContain("canary-pass-for-state")
    for (const command of [["run", "pipeline.yaml", "--once"], ["checkpoints", "pipeline.yaml"], ["dead-letters", "pipeline.yaml"]]) {
      const result = await cli([...command, "--log-format", "text"], { cwd: dir, env: { STATE_URL: url } })
      expect(result.code, command.join(" ")).toBe(1)
      expect(result.stderr).toMatch(/^featbit-export: the state database \(PostgreSQL at .*\): preparing its tables failed \(28000: .*\); fix the user and password of state.postgres.url$/m)
      expect(result.stderr + result.stdout).not.toContain("canary-pass-for-state")
      expect(result.stderr).not.toMatch(stackLine)
    }
  })
})
