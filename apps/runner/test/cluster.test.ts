// Several runners sharing their pipelines through PostgreSQL (state: postgres://, each pipeline a singleton
// of @effect/cluster), through the built CLI: three runner processes on this machine against the real
// PostgreSQL; the owner of a pipeline SIGKILLed or SIGSTOPped, and what the audit of commits shows after.
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { PIPELINES, clusterFile, clusterHarness, delivered, endpointOf, owners, waitUntil } from "./cluster-support.js"
import { readNdjson, sleep, tempDir, writeFile } from "./support.js"

const { runner, checkAudit, epochs } = clusterHarness()

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
    // Any runner says who runs each pipeline, its own or not (claimedBy, from the shared checkpoint rows).
    const survivor = bases.findIndex((base) => base !== undefined)
    await waitUntil("a survivor's /status to name every pipeline's runner", async () => {
      const status = (await (await fetch(`${bases[survivor]}/status`)).json()) as { pipelines: Array<{ pipeline: string; claimedBy: { runner: string } | null }> }
      const placed = await owners(bases)
      return status.pipelines.every((p) => p.claimedBy?.runner === `r${placed.get(p.pipeline)! + 1}`) ? true : undefined
    }, 10_000)
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
    expect((await checkAudit("kill")).length).toBeGreaterThan(0)
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
    expect((await checkAudit("pause")).length).toBeGreaterThan(0)
    expect(fs.existsSync(path.join(dir, ".featbit-export", "only.checkpoint.json"))).toBe(false)
  }, 120_000)
})
