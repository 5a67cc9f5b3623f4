import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { generateRows } from "@featbit-export/source-generate"
import { startEventHubPeer } from "@featbit-export/testkit"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const runnerIndex = path.join(root, "apps", "runner", "dist", "index.js")
const sinkIndex = path.join(root, "packages", "sink-eventhub", "dist", "index.js")
const made: Array<string> = []

beforeAll(() => {
  for (const file of [runnerIndex, sinkIndex]) {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npx tsc -b tsconfig.json\` at the root first`)
  }
})
afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

/** The runner's `main` with the built-in plugins plus this sink, as a script. */
const runnerScript = `import { builtins, main } from ${JSON.stringify(pathToFileURL(runnerIndex).href)}
import { EventHubSink } from ${JSON.stringify(pathToFileURL(sinkIndex).href)}
main(process.argv.slice(2), { sources: builtins.sources, sinks: [...builtins.sinks, EventHubSink] }).then(
  (code) => { process.exitCode = code },
  (error) => { process.stderr.write(String(error) + "\\n"); process.exitCode = 1 }
)
`

const pipeline = (count: number) => `pipelines:
  - name: gen
    source:
      type: generate
      count: ${count}
      seed: 7
    sink:
      type: eventhub
      connectionString: \${EVENTHUB_CONNECTION_STRING}
      requestTimeout: 5s
      sdkRetryDelay: 50ms
    batch:
      size: 1000
`

interface Key {
  readonly id: string
  readonly timestamp: string
}
const compareKeys = (a: Key, b: Key): number =>
  a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
const readCheckpoint = (dir: string): { cursor: Key; exported: number; committedAt: string } | undefined => {
  const file = path.join(dir, ".featbit-export", "gen.checkpoint.json")
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined
}
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const waitFor = async (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}
const seededRandom = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state / 2 ** 32
  }
}

const startRunner = (dir: string, args: ReadonlyArray<string>, connectionString: string) => {
  const env: NodeJS.ProcessEnv = { ...process.env, EVENTHUB_CONNECTION_STRING: connectionString }
  delete env["FEATBIT_EXPORT_LOG_LEVEL"]
  delete env["FEATBIT_EXPORT_DEBUG"]
  const child: ChildProcess = spawn(process.execPath, [path.join(dir, "runner.mjs"), ...args], { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] })
  let stderr = ""
  child.stdout!.resume()
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => void (stderr += chunk))
  const finished = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal }))
  })
  return { child, finished, stderr: () => stderr }
}

describe("a run into Event Hubs killed with SIGKILL and started again", () => {
  it("loses no event, and re-sends only events after the cursor committed at each kill, under the same messageIds", async () => {
    const seed = Number(process.env["KILL_SEED"] ?? Math.floor(Math.random() * 2 ** 31))
    const random = seededRandom(seed)
    const count = 30_000
    const peer = await startEventHubPeer({ partitionCount: 4 })
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-eventhub-"))
      made.push(dir)
      fs.writeFileSync(path.join(dir, "runner.mjs"), runnerScript)
      fs.writeFileSync(path.join(dir, "pipeline.yaml"), pipeline(count))

      const kills: Array<{ delayMs: number; cursor: Key; exported: number }> = []
      for (let round = 0; round < 3; round++) {
        const before = readCheckpoint(dir)?.committedAt
        const run = startRunner(dir, ["run", "pipeline.yaml"], peer.connectionString())
        let exited = false
        void run.finished.then(() => (exited = true))
        await waitFor("a committed batch", () => {
          if (exited) throw new Error(`the runner exited before committing anything:\n${run.stderr()}`)
          const checkpoint = readCheckpoint(dir)
          return checkpoint !== undefined && (checkpoint.committedAt !== before || checkpoint.exported >= count)
        })
        const delayMs = Math.floor(random() * 400)
        await sleep(delayMs)
        run.child.kill("SIGKILL")
        const end = await run.finished
        expect(end.signal, `seed ${seed}`).toBe("SIGKILL")
        const { cursor, exported } = readCheckpoint(dir)!
        kills.push({ delayMs, cursor, exported })
      }

      const last = startRunner(dir, ["run", "pipeline.yaml", "--once"], peer.connectionString())
      const end = await last.finished
      const schedule = `seed ${seed}, kills ${JSON.stringify(kills)}`
      expect(end.code, `${schedule}\n${last.stderr()}`).toBe(0)

      const expected = Array.from(generateRows({ count, seed: 7 }), (row) => ({ id: row.id, timestamp: row.timestamp }))
      const byId = new Map(expected.map((line) => [line.id, line]))
      const seen = new Map<string, number>()
      for (const event of peer.events()) seen.set(event.messageId ?? "", (seen.get(event.messageId ?? "") ?? 0) + 1)
      const missing = expected.filter((line) => !seen.has(line.id))
      expect(missing.length, `${schedule}; first missing ${missing[0]?.id}`).toBe(0)
      expect([...seen.keys()].filter((id) => !byId.has(id)), "events that were never generated").toEqual([])
      // An event may come again only once per kill whose committed cursor it lies before.
      const unexplained = expected.filter((line) => seen.get(line.id)! - 1 > kills.filter((kill) => compareKeys(line, kill.cursor) > 0).length)
      expect(unexplained.map((line) => line.id).slice(0, 5), schedule).toEqual([])
      const final = readCheckpoint(dir)!
      expect(final.cursor).toEqual(expected[count - 1])
      expect(final.exported).toBe(count)
      console.log(`eventhub SIGKILL test: ${schedule}; ${peer.events().length - count} events received twice`)
    } finally {
      await peer.stop()
    }
  }, 120_000)
})
