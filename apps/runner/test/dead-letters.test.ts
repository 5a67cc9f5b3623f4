// `featbit-export dead-letters`, through the built CLI, on production-shaped dead letters: rows the generate
// source breaks (`malformedEvery`: source-stage letters) and events a Segment receiver refuses with 400
// (sink-stage letters, with the event), the way a `run` writes them.
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { type SegmentReceiver, startSegmentReceiver } from "@featbit-export/testkit"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { assertBuilt, cli, generated, jsonLines, lockPath, stackLine, start, tempDir, writeFile } from "./support.js"

beforeAll(assertBuilt)

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

const WRITE_KEY = "wk_dead_letters_test"
const env = { SEGMENT_WRITE_KEY: WRITE_KEY }
const COUNT = 1000
const MALFORMED_EVERY = 100

const pipelineYaml = (endpoint: string, batch: number) => `pipelines:
  - name: gen
    source:
      type: generate
      count: ${COUNT}
      seed: 7
      malformedEvery: ${MALFORMED_EVERY}
    sink:
      type: segment
      writeKey: \${SEGMENT_WRITE_KEY}
      endpoint: ${endpoint}
    batch:
      size: ${batch}
    retry: { initialDelay: 10ms, maxDelay: 50ms, maxRetries: 1 }
`

const all = generated(COUNT)
/** The rows the source breaks (every 100th, counting from 1): its dead letters. */
const malformedIds = all.filter((_, i) => (i + 1) % MALFORMED_EVERY === 0).map((line) => line.id)
/** Events the receiver refuses in the first run: every 40th good one. */
const refusedIds = all
  .filter((_, i) => (i + 1) % MALFORMED_EVERY !== 0)
  .filter((_, i) => i % 40 === 7)
  .map((line) => line.id)

interface Letter {
  readonly at: string
  readonly pipeline: string
  readonly stage: "source" | "sink"
  readonly plugin: string
  readonly id: string
  readonly reason: string
  readonly event?: { readonly id: string }
  readonly row?: { readonly id: string }
}

const lettersPath = (dir: string) => path.join(dir, ".featbit-export", "gen.dead-letter.ndjson")
const readLetters = (dir: string): Array<Letter> =>
  fs
    .readFileSync(lettersPath(dir), "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Letter)
const SOURCE = malformedIds.length
const SINK = refusedIds.length
const TOTAL = SOURCE + SINK
const idsOf = (letters: ReadonlyArray<Letter>, stage: "source" | "sink") => letters.filter((l) => l.stage === stage).map((l) => l.id)

/** A receiver whose refusal rule a test changes between runs: `rule.reason` undefined accepts everything. */
const startRefusingReceiver = async (refused: ReadonlyArray<string>) => {
  const rule: { reason: string | undefined } = { reason: "invalid property (rule v1)" }
  const bad = new Set(refused)
  const receiver = await startSegmentReceiver({
    writeKey: WRITE_KEY,
    refuse: (item) => (rule.reason !== undefined && bad.has(item["messageId"] as string) ? rule.reason : undefined)
  })
  closers.push(() => receiver.stop())
  return { receiver, rule }
}

/** How many times each of `ids` reached the receiver. */
const arrivals = (receiver: SegmentReceiver, ids: ReadonlyArray<string>): Map<string, number> => {
  const counts = new Map(ids.map((id) => [id, 0]))
  for (const id of receiver.messageIds()) if (counts.has(id)) counts.set(id, counts.get(id)! + 1)
  return counts
}

/** A first run into a receiver that refuses `refusedIds`: the dead-letter file a replay starts from. */
const firstRun = async () => {
  const dir = tempDir()
  const { receiver, rule } = await startRefusingReceiver(refusedIds)
  writeFile(dir, "pipeline.yaml", pipelineYaml(receiver.url, 500))
  const run = await cli(["run", "pipeline.yaml", "--once"], { cwd: dir, env })
  expect(run.code, run.stderr).toBe(0)
  expect(jsonLines(run.stderr).at(-1)).toMatchObject({ message: "done", deadLettered: malformedIds.length + refusedIds.length })
  const letters = readLetters(dir)
  expect(idsOf(letters, "source").sort()).toEqual([...malformedIds].sort())
  expect(idsOf(letters, "sink").sort()).toEqual([...refusedIds].sort())
  // The refused events never reached the receiver: the replay's deliveries are the only ones.
  expect([...arrivals(receiver, refusedIds).values()].every((n) => n === 0)).toBe(true)
  return { dir, receiver, rule }
}

/**
 * A front for the receiver that passes requests on and, from the `holdFrom`-th batch request on, passes it on
 * but never answers: the receiver has the events, the sender never hears so. `held` resolves at the first.
 */
const startGate = async (target: string, holdFrom: number) => {
  const bodies: Array<Array<string>> = []
  let release: () => void = () => undefined
  const held = new Promise<void>((resolve) => (release = resolve))
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks)
      const number = bodies.push(((JSON.parse(body.toString("utf8")) as { batch: Array<{ type: string; messageId: string }> }).batch ?? []).filter((m) => m.type !== "identify").map((m) => m.messageId))
      const headers: Record<string, string> = { "content-type": String(req.headers["content-type"] ?? "application/json") }
      if (req.headers.authorization !== undefined) headers["authorization"] = req.headers.authorization
      void fetch(target + (req.url ?? "/"), { method: req.method ?? "POST", headers, body }).then(async (answer) => {
        if (number >= holdFrom) return release()
        res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" })
        res.end(await answer.text())
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  )
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, held }
}

describe("dead-letters", () => {
  it("counts each pipeline's letters by stage and by reason, most frequent first, and names the file", async () => {
    const { dir } = await firstRun()
    const result = await cli(["dead-letters", "pipeline.yaml"], { cwd: dir, env })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe("")
    const records = jsonLines(result.stderr)
    expect(records).toHaveLength(1)
    const record = records[0] as { file: string; total: number; byStage: unknown; reasons: Array<{ stage: string; reason: string; count: number }> }
    expect(record).toMatchObject({ pipeline: "gen", message: "dead-letters", file: lettersPath(dir), total: TOTAL, unreadable: 0, byStage: { source: SOURCE, sink: SINK } })
    // Every refusal has one cause here, the rule: one group, the largest.
    expect(record.reasons[0]).toMatchObject({ stage: "sink", count: SINK })
    expect(record.reasons[0]!.reason).toContain("rule v1")
    expect(record.reasons.filter((r) => r.stage === "sink")).toHaveLength(1)
    // The groups add up to the letters, each stage to its own count, in falling order, cut to 120 characters.
    const letters = readLetters(dir)
    expect(record.reasons.filter((r) => r.stage === "source").reduce((sum, r) => sum + r.count, 0)).toBe(SOURCE)
    expect(record.reasons.map((r) => r.count)).toEqual([...record.reasons.map((r) => r.count)].sort((a, b) => b - a))
    expect(record.reasons.every((r) => r.reason.length <= 120)).toBe(true)
    for (const group of record.reasons) {
      const members = letters.filter((l) => l.stage === group.stage && l.reason.replace(/\s+/g, " ").trim().startsWith(group.reason.replace(/…$/, "")))
      expect(members.length, group.reason).toBeGreaterThanOrEqual(group.count)
    }

    const text = await cli(["dead-letters", "pipeline.yaml", "--log-format", "text"], { cwd: dir, env })
    expect(text.code, text.stderr).toBe(0)
    const lines = text.stderr.trimEnd().split("\n")
    expect(lines[0]).toBe(`gen: ${TOTAL} dead letters in ${path.join(".featbit-export", "gen.dead-letter.ndjson")}: ${SOURCE} from the source (rows it could not decode), ${SINK} from the sink (events it refused)`)
    expect(lines[1]).toMatch(new RegExp(`^\\s+${SINK} {2}sink {7}Segment refused the event: HTTP 400 .*rule v1`))
    expect(lines).toHaveLength(1 + record.reasons.length)
  }, 60_000)

  it("--show N prints the first N records on stdout as stored", async () => {
    const { dir } = await firstRun()
    const result = await cli(["dead-letters", "pipeline.yaml", "--show", "7"], { cwd: dir, env })
    expect(result.code, result.stderr).toBe(0)
    const stored = fs.readFileSync(lettersPath(dir), "utf8").split("\n").slice(0, 7)
    expect(result.stdout).toBe(stored.map((line) => line + "\n").join(""))
    expect(jsonLines(result.stderr)).toMatchObject([{ pipeline: "gen", message: "shown", shown: 7, total: TOTAL }])
    // The write key never reaches the output, stored or shown.
    expect(result.stdout + result.stderr).not.toContain(WRITE_KEY)
  }, 60_000)

  it("replay after a fixed cause delivers the dead letters and empties the file", async () => {
    const { dir, receiver, rule } = await firstRun()
    const sourceLines = fs
      .readFileSync(lettersPath(dir), "utf8")
      .split("\n")
      .filter((line) => line !== "" && (JSON.parse(line) as Letter).stage === "source")
    rule.reason = undefined
    // Batches of 10 here, so the replay takes several.
    writeFile(dir, "pipeline.yaml", pipelineYaml(receiver.url, 10))
    const result = await cli(["dead-letters", "pipeline.yaml", "--replay", "--pipeline", "gen"], { cwd: dir, env })
    expect(result.code, result.stderr).toBe(0)
    expect(jsonLines(result.stderr).at(-1)).toMatchObject({ pipeline: "gen", message: "replayed", sent: SINK, delivered: SINK, refused: 0, untouched: SOURCE })
    expect([...arrivals(receiver, refusedIds).entries()].filter(([, n]) => n !== 1)).toEqual([])
    // What is left is the source's rows, byte for byte: a replay does not touch them.
    expect(fs.readFileSync(lettersPath(dir), "utf8")).toBe(sourceLines.map((line) => line + "\n").join(""))
    expect(fs.readdirSync(path.dirname(lettersPath(dir))).filter((name) => name.endsWith(".tmp"))).toEqual([])
    expect(fs.existsSync(lockPath(dir))).toBe(false)

    // Nothing is left to replay: a second replay sends nothing.
    const again = await cli(["dead-letters", "pipeline.yaml", "--replay", "--all"], { cwd: dir, env })
    expect(again.code, again.stderr).toBe(0)
    expect(jsonLines(again.stderr).at(-1)).toMatchObject({ message: "replayed", sent: 0, untouched: SOURCE })
    expect([...arrivals(receiver, refusedIds).values()].every((n) => n === 1)).toBe(true)
  }, 60_000)

  it("replay with the sink still refusing keeps the records, with the new reason", async () => {
    const { dir, receiver, rule } = await firstRun()
    const before = readLetters(dir)
    rule.reason = "invalid property (rule v2)"
    const result = await cli(["dead-letters", "pipeline.yaml", "--replay", "--pipeline", "gen"], { cwd: dir, env })
    expect(result.code, result.stderr).toBe(0)
    expect(jsonLines(result.stderr).at(-1)).toMatchObject({ message: "replayed", sent: SINK, delivered: 0, refused: SINK })
    const after = readLetters(dir)
    // The same letters in the same order, each with its event; the sink's ones now say why they were refused this time.
    expect(after.map((l) => [l.stage, l.id, l.at])).toEqual(before.map((l) => [l.stage, l.id, l.at]))
    expect(after.filter((l) => l.stage === "sink").every((l) => l.reason.includes("rule v2") && l.event?.id === l.id)).toBe(true)
    expect(after.filter((l) => l.stage === "source")).toEqual(before.filter((l) => l.stage === "source"))
    expect([...arrivals(receiver, refusedIds).values()].every((n) => n === 0)).toBe(true)
  }, 60_000)

  it("a replay killed with SIGKILL while the receiver has not answered loses no record", async () => {
    const { dir, receiver, rule } = await firstRun()
    rule.reason = undefined
    // The gate passes the first batch request on and answers it; the second reaches the receiver but is
    // never answered, so the replay is killed between the receiver taking a batch and acknowledging it.
    const gate = await startGate(receiver.url, 2)
    writeFile(dir, "pipeline.yaml", pipelineYaml(gate.url, 5))
    const replay = start(["dead-letters", "pipeline.yaml", "--replay", "--pipeline", "gen"], { cwd: dir, env })
    let killed = false
    const endedEarly = replay.finished.then((end) => {
      if (!killed) throw new Error(`the replay ended before its second batch: ${end.code}\n${end.stderr}`)
    })
    await Promise.race([gate.held, endedEarly])
    killed = true
    replay.child.kill("SIGKILL")
    expect((await replay.finished).signal).toBe("SIGKILL")

    const [first, second] = gate.bodies as [Array<string>, Array<string>]
    expect(first).toHaveLength(5)
    expect(second).toHaveLength(5)
    expect(SINK).toBeGreaterThan(10)
    const letters = readLetters(dir)
    // The acknowledged batch left the file; the unacknowledged one, and all after it, are still there.
    expect(idsOf(letters, "sink").sort()).toEqual(refusedIds.filter((id) => !first.includes(id)).sort())
    expect(idsOf(letters, "source").sort()).toEqual([...malformedIds].sort())
    // So every letter is delivered or still in the file (the one in flight is both).
    const counts = arrivals(receiver, refusedIds)
    expect(refusedIds.filter((id) => counts.get(id) === 0 && !idsOf(letters, "sink").includes(id))).toEqual([])

    // The next replay delivers the rest; the batch in flight at the kill arrives a second time, under its id.
    writeFile(dir, "pipeline.yaml", pipelineYaml(receiver.url, 10))
    const finish = await cli(["dead-letters", "pipeline.yaml", "--replay", "--pipeline", "gen"], { cwd: dir, env })
    expect(finish.code, finish.stderr).toBe(0)
    expect(idsOf(readLetters(dir), "sink")).toEqual([])
    const final = arrivals(receiver, refusedIds)
    expect(refusedIds.filter((id) => final.get(id) !== (second.includes(id) ? 2 : 1))).toEqual([])
  }, 60_000)

  it("replay refuses to run beside a runner of the pipeline, and exits 1 when the sink is down, changing nothing", async () => {
    const { dir, receiver, rule } = await firstRun()
    rule.reason = undefined
    const stored = fs.readFileSync(lettersPath(dir), "utf8")
    // A lock held by a live process: this test's.
    fs.writeFileSync(lockPath(dir), JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date().toISOString() }) + "\n")
    const locked = await cli(["dead-letters", "pipeline.yaml", "--replay", "--pipeline", "gen"], { cwd: dir, env })
    expect(locked.code, locked.stderr).toBe(1)
    expect(locked.stderr).not.toMatch(stackLine)
    const errors = jsonLines(locked.stderr).filter((r) => r["level"] === "error")
    expect(errors).toHaveLength(1)
    expect(String(errors[0]!["message"])).toContain(`pipeline gen is already running in process ${process.pid}`)
    expect(fs.readFileSync(lettersPath(dir), "utf8")).toBe(stored)
    expect([...arrivals(receiver, refusedIds).values()].every((n) => n === 0)).toBe(true)
    fs.rmSync(lockPath(dir))

    await receiver.stop()
    const down = await cli(["dead-letters", "pipeline.yaml", "--replay", "--pipeline", "gen"], { cwd: dir, env })
    expect(down.code, down.stderr).toBe(1)
    expect(down.stderr).not.toMatch(stackLine)
    const failure = jsonLines(down.stderr).find((r) => r["level"] === "error")
    expect(String(failure?.["message"])).toMatch(/^pipeline gen: replay of its dead letters stopped: sink segment: .*; the rest are still in /)
    expect(fs.readFileSync(lettersPath(dir), "utf8")).toBe(stored)
  }, 60_000)

  it("--export writes the rows the source could not decode, as stored, and leaves the dead letters", async () => {
    const { dir } = await firstRun()
    const stored = fs.readFileSync(lettersPath(dir), "utf8")
    const result = await cli(["dead-letters", "pipeline.yaml", "--export", "rows.ndjson"], { cwd: dir, env })
    expect(result.code, result.stderr).toBe(0)
    expect(jsonLines(result.stderr)).toMatchObject([{ pipeline: "gen", message: "exported", rows: SOURCE, to: path.join(dir, "rows.ndjson") }])
    const expected = readLetters(dir)
      .filter((l) => l.stage === "source")
      .map((l) => JSON.stringify(l.row) + "\n")
      .join("")
    expect(fs.readFileSync(path.join(dir, "rows.ndjson"), "utf8")).toBe(expected)
    expect(expected.split("\n").filter((line) => line !== "").map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(malformedIds)
    expect(fs.readFileSync(lettersPath(dir), "utf8")).toBe(stored)
  }, 60_000)

  it("says in one sentence what is wrong with the command line, exit 2", async () => {
    const dir = tempDir()
    writeFile(dir, "pipeline.yaml", pipelineYaml("http://127.0.0.1:9", 10))
    const cases: ReadonlyArray<[ReadonlyArray<string>, string]> = [
      [["--replay"], "--replay sends dead letters to a destination again: name the pipeline with --pipeline NAME, or pass --all"],
      [["--replay", "--pipeline", "other"], 'no pipeline named "other"'],
      [["--show", "0"], "--show must be a whole number of at least 1"],
      [["--show", "3", "--replay", "--all"], "--show and --replay do different things"]
    ]
    for (const [extra, message] of cases) {
      const result = await cli(["dead-letters", "pipeline.yaml", ...extra], { cwd: dir, env })
      expect(result.code, `${extra.join(" ")}: ${result.stderr}`).toBe(2)
      const records = jsonLines(result.stderr)
      expect(records, result.stderr).toHaveLength(1)
      expect(records[0]).toMatchObject({ level: "error" })
      expect(String(records[0]!["message"])).toContain(message)
      expect(result.stderr).not.toMatch(stackLine)
    }
    // Without dead letters, there is nothing to count, and that is no failure.
    const none = await cli(["dead-letters", "pipeline.yaml"], { cwd: dir, env })
    expect(none.code, none.stderr).toBe(0)
    expect(jsonLines(none.stderr)).toMatchObject([{ pipeline: "gen", message: "dead-letters", total: 0 }])
  }, 60_000)
})
