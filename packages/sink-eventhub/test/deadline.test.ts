import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { makeMemorySource, makeTestStores, runOnce, startEventHubPeer } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { operationDeadline } from "../src/deadline.js"
import { decodeConfig, run, sampleEvents, setup } from "./support.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = path.join(here, "fixtures", "stalled-send.mjs")
const built = path.join(here, "..", "dist", "deadline.js")

describe("eventhub sink: a hub that never settles a send", () => {
  it("fails the write transiently after requestTimeout, and the next attempt delivers everything once", async () => {
    const events = sampleEvents(500, 51)
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ requestTimeout: "1s", sdkMaxRetries: 0 }, { partitionCount: 2 })
        peer.stallNext(1)
        const started = Date.now()
        const first = yield* Effect.either(sink.write({ events, sequence: 0 }))
        const elapsed = Date.now() - started
        expect(peer.stalled()).toBe(1)
        expect(Either.isLeft(first) && first.left.retryable).toBe(true)
        // Not before the attempt's timeout, and well before a stalled send would be noticed otherwise.
        expect(elapsed).toBeGreaterThanOrEqual(950)
        expect(elapsed).toBeLessThan(Duration.toMillis(operationDeadline(decodeConfig({ requestTimeout: "1s", sdkMaxRetries: 0 }))) + 1_000)
        const second = yield* sink.write({ events, sequence: 0 })
        expect(second.rejected).toEqual([])
        expect(peer.events().map((r) => r.messageId).sort()).toEqual(events.map((e) => e.id).sort())
      })
    )
  })

  it("through the engine: stalled sends are retried and every event arrives once", async () => {
    const rows = [...generateRows({ count: 4_000, seed: 52 })]
    await run(
      Effect.gen(function* () {
        const { peer, sink } = yield* setup({ requestTimeout: "500ms", sdkMaxRetries: 0 }, { partitionCount: 4 })
        peer.stallNext(2)
        const summary = yield* runOnce(makeMemorySource(rows), sink, makeTestStores(), { batchSize: 1_000 })
        expect(peer.stalled()).toBe(2)
        expect(summary.exported).toBe(rows.length)
        expect(summary.retries).toBeGreaterThanOrEqual(1)
        const ids = peer.events().map((r) => r.messageId)
        expect(ids.length).toBe(rows.length)
        expect(new Set(ids)).toEqual(new Set(rows.map((r) => r.id)))
      })
    )
  })

  it("keeps its deadline while the garbage collector runs (a child process with --expose-gc)", async () => {
    if (!fs.existsSync(built)) throw new Error(`${built} is missing: run \`npx tsc -b tsconfig.json\` at the root first`)
    const peer = await startEventHubPeer({ partitionCount: 2 })
    try {
      peer.stallNext(1)
      const child = spawn(process.execPath, ["--expose-gc", fixture, peer.connectionString(), "300", "53"], { stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk) => (stdout += chunk))
      child.stderr.on("data", (chunk) => (stderr += chunk))
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve))
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" })
      const report = JSON.parse(stdout.trim().split("\n").at(-1)!)
      expect(report.collections).toBeGreaterThan(10)
      // The deadline alone (a promise that never settles): it fired, at its time.
      expect(report.probe.failed && report.probe.retryable).toBe(true)
      expect(report.probe.elapsedMs).toBeGreaterThanOrEqual(290)
      expect(report.probe.elapsedMs).toBeLessThan(2_000)
      // The built sink, its first transfer never settled: a transient failure after requestTimeout (1s).
      expect(report.stalled.failed && report.stalled.retryable).toBe(true)
      expect(report.stalled.elapsedMs).toBeGreaterThanOrEqual(950)
      expect(report.stalled.elapsedMs).toBeLessThan(4_000)
      expect(report.retried.delivered).toBe(true)
      expect(peer.stalled()).toBe(1)
      const expected = sampleEvents(300, 53).map((e) => e.id)
      expect(peer.events().map((r) => r.messageId).sort()).toEqual(expected.sort())
    } finally {
      await peer.stop()
    }
  })
})
