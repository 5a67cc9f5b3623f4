import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { generateRows } from "@featbit-export/source-generate"
import { readCheckpoint, runnerWithSink, seededRandom, sleep, startEventHubPeer, startRunner } from "@featbit-export/testkit"
import { afterAll, describe, expect, it } from "vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const made: Array<string> = []

afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

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
const waitFor = async (what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
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
      fs.writeFileSync(
        path.join(dir, "runner.mjs"),
        runnerWithSink({
          runnerIndex: path.join(root, "apps", "runner", "dist", "index.js"),
          sinkIndex: path.join(root, "packages", "sink-eventhub", "dist", "index.js"),
          sinkExport: "EventHubSink"
        })
      )
      fs.writeFileSync(path.join(dir, "pipeline.yaml"), pipeline(count))

      const kills: Array<{ delayMs: number; cursor: Key; exported: number }> = []
      for (let round = 0; round < 3; round++) {
        const before = readCheckpoint(dir)?.committedAt
        const run = startRunner(dir, ["run", "pipeline.yaml"], { EVENTHUB_CONNECTION_STRING: peer.connectionString() })
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

      const last = startRunner(dir, ["run", "pipeline.yaml", "--once"], { EVENTHUB_CONNECTION_STRING: peer.connectionString() })
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
