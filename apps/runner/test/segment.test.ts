import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type SegmentReceiver, startSegmentReceiver } from "@featbit-export/testkit"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { type Finished, assertBuilt, compareKeys, generated, readCheckpoint, seededRandom, sleep, tempDir, waitFor, writeFile } from "./support.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const runnerIndex = path.join(root, "apps", "runner", "dist", "index.js")
const segmentIndex = path.join(root, "packages", "sink-segment", "dist", "index.js")

beforeAll(() => {
  assertBuilt()
  if (!fs.existsSync(segmentIndex)) throw new Error(`${segmentIndex} is missing: run \`npx tsc -b tsconfig.json\` at the root first`)
})

const receivers: Array<SegmentReceiver> = []
afterEach(async () => {
  for (const receiver of receivers.splice(0)) await receiver.stop()
})

const WRITE_KEY = "wk_runner_test"

/** The runner's `main` with the built-in plugins plus the Segment sink, as a script. */
const runnerScript = `import { builtins, main } from ${JSON.stringify(pathToFileURL(runnerIndex).href)}
import { SegmentSink } from ${JSON.stringify(pathToFileURL(segmentIndex).href)}
main(process.argv.slice(2), { sources: builtins.sources, sinks: [...builtins.sinks, SegmentSink] }).then(
  (code) => { process.exitCode = code },
  (error) => { process.stderr.write(String(error) + "\\n"); process.exitCode = 1 }
)
`

const pipeline = (count: number, url: string) => `pipelines:
  - name: gen
    source:
      type: generate
      count: ${count}
      seed: 7
    sink:
      type: segment
      writeKey: \${SEGMENT_WRITE_KEY}
      endpoint: ${url}
      maxEventsPerRequest: 400
    batch:
      size: 1000
`

const startRunner = (dir: string, args: ReadonlyArray<string>) => {
  const env: NodeJS.ProcessEnv = { ...process.env, SEGMENT_WRITE_KEY: WRITE_KEY }
  delete env["FEATBIT_EXPORT_LOG_LEVEL"]
  delete env["FEATBIT_EXPORT_DEBUG"]
  const child = spawn(process.execPath, [path.join(dir, "runner.mjs"), ...args], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] })
  let stderr = ""
  child.stdout!.resume()
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
  const finished = new Promise<Finished>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout: "", stderr }))
  })
  return { child, finished, stderr: () => stderr }
}

describe("a run into Segment killed with SIGKILL and started again", () => {
  it("loses no event, and re-sends only events after the cursor committed at each kill, under the same messageIds", async () => {
    const seed = Number(process.env["KILL_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
    const random = seededRandom(seed)
    const count = 30_000
    const receiver = await startSegmentReceiver({ writeKey: WRITE_KEY })
    receivers.push(receiver)
    const dir = tempDir()
    writeFile(dir, "runner.mjs", runnerScript)
    writeFile(dir, "pipeline.yaml", pipeline(count, receiver.url))

    const kills: Array<{ readonly delayMs: number; readonly cursor: { timestamp: string; id: string }; readonly exported: number }> = []
    for (let round = 0; round < 3; round++) {
      const before = readCheckpoint(dir)?.committedAt
      const run = startRunner(dir, ["run", "pipeline.yaml"])
      let exited = false
      void run.finished.then(() => (exited = true))
      await waitFor("a committed batch", () => {
        if (exited) throw new Error(`the runner exited before committing anything:\n${run.stderr()}`)
        const checkpoint = readCheckpoint(dir)
        return checkpoint !== undefined && (checkpoint.committedAt !== before || checkpoint.exported >= count) ? true : undefined
      })
      const delayMs = Math.floor(random() * 400)
      await sleep(delayMs)
      run.child.kill("SIGKILL")
      const end = await run.finished
      expect(end.signal, `seed ${seed}`).toBe("SIGKILL")
      const { cursor, exported } = readCheckpoint(dir)!
      kills.push({ delayMs, cursor, exported })
    }

    const last = startRunner(dir, ["run", "pipeline.yaml", "--once"])
    const end = await last.finished
    const schedule = `seed ${seed}, kills ${JSON.stringify(kills)}`
    expect(end.code, `${schedule}\n${end.stderr}`).toBe(0)

    const expected = generated(count)
    const byId = new Map(expected.map((line) => [line.id, line]))
    const seen = new Map<string, number>()
    for (const id of receiver.messageIds("track")) seen.set(id, (seen.get(id) ?? 0) + 1)

    const missing = expected.filter((line) => !seen.has(line.id))
    expect(missing.length, `${schedule}; first missing ${missing[0]?.id}`).toBe(0)
    expect([...seen.keys()].filter((id) => !byId.has(id)), "events that were never generated").toEqual([])
    // A re-sent event carries the same messageId and the same payload. (An identify is sent once per user
    // per run, stamped with the time of that run's first event of the user, so a restart may send it again
    // with another timestamp under the same messageId: Segment keeps the first.)
    expect(receiver.stats().conflictingDuplicatesByType["track"] ?? 0).toBe(0)
    expect(receiver.stats().duplicates).toBeGreaterThan(0)
    // An event may come again only once per kill whose committed cursor it lies after.
    const unexplained = expected.filter((line) => seen.get(line.id)! - 1 > kills.filter((kill) => compareKeys(line, kill.cursor) > 0).length)
    expect(unexplained.map((line) => line.id).slice(0, 5), schedule).toEqual([])

    const final = readCheckpoint(dir)!
    expect(final.cursor).toEqual(expected[count - 1])
    expect(final.exported).toBe(count)
    console.log(`segment SIGKILL test: ${schedule}; ${receiver.stats().duplicates} messages received twice or more`)
  }, 90_000)
})
