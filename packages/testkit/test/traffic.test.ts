import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type FeatBitRow, Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import { describe, expect, it } from "vitest"
import { type TrafficStore, mongoTrafficStore, startTraffic, toMongoEventDocument, trafficBatch } from "../src/index.js"

const t0 = Date.parse("2025-03-01T10:00:00.000Z")
const millisOf = (timestamp: string): number => Date.parse(timestamp.slice(0, 23) + "Z")
const wholeMillis = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}000Z$/

/** Rows of the timeline `floor(i * 1000 / rate)` due in [from, to) ms after the start, counted here. */
const dueBetween = (rate: number, from: number, to: number): number => {
  let n = 0
  for (let i = 0; Math.floor((i * 1000) / rate) < to; i++) if (Math.floor((i * 1000) / rate) >= from) n++
  return n
}

/** Flushes a second apart from t0, as the writer makes them with a clock that reads one second later each time. */
const windows = (n: number, interval = 1000) =>
  Array.from({ length: n }, (_, k) => ({ start: t0, since: t0 + k * interval, at: t0 + (k + 1) * interval }))

const deferred = () => {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  const promise = new Promise<void>((ok, fail) => {
    resolve = ok
    reject = fail
  })
  return { promise, resolve, reject }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until `condition` holds, polling; fails the test after `timeout` ms. */
const until = async (condition: () => boolean, timeout = 5000): Promise<void> => {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting")
    await sleep(5)
  }
}

describe("trafficBatch", () => {
  it("honours the rate within rounding: each flush holds the rows that fell due in its window", () => {
    for (const rate of [250, 2.5, 333.3]) {
      const sizes = windows(12).map((window) => trafficBatch({ rate }, window).rows.length)
      expect(sizes, `rate ${rate}`).toEqual(windows(12).map((_, k) => dueBetween(rate, k * 1000, (k + 1) * 1000)))
      const total = sizes.reduce((a, b) => a + b, 0)
      expect(Math.abs(total - rate * 12), `rate ${rate}`).toBeLessThanOrEqual(1)
    }
  })

  it("covers the same rows however the timeline is split into flushes, each row once", () => {
    const options = { rate: 800, seed: 5 }
    const bySecond = windows(6).flatMap((window) => trafficBatch(options, window).rows.map((row) => row.id))
    const byQuarter = windows(24, 250).flatMap((window) => trafficBatch(options, window).rows.map((row) => row.id))
    expect(byQuarter).toEqual(bySecond)
    expect(new Set(bySecond).size).toBe(bySecond.length)
    expect(bySecond).toHaveLength(4800)
  })

  it("gives the same rows for the same options and window, and other rows for another seed", () => {
    const [window] = windows(1)
    expect(trafficBatch({ rate: 500, seed: 3, lateShare: 0.1 }, window!)).toEqual(trafficBatch({ rate: 500, seed: 3, lateShare: 0.1 }, window!))
    const other = new Set(trafficBatch({ rate: 500, seed: 4 }, window!).rows.map((row) => row.id))
    expect(trafficBatch({ rate: 500, seed: 3 }, window!).rows.filter((row) => other.has(row.id))).toEqual([])
  })

  it("stamps ordinary rows sdkDelay before the flush and late rows lateBy before it, in whole milliseconds", () => {
    const options = { rate: 5000, lateShare: 0.2, lateBy: { min: 120_000, max: 180_000 }, sdkDelay: { min: 50, max: 400 } }
    let rows = 0
    let late = 0
    for (const window of windows(4)) {
      const batch = trafficBatch(options, window)
      const lateIds = new Set(batch.late.map((row) => row.id))
      rows += batch.rows.length
      late += batch.late.length
      for (const row of batch.rows) {
        expect(row.timestamp).toMatch(wholeMillis)
        const behind = window.at - millisOf(row.timestamp)
        if (lateIds.has(row.id)) {
          expect(behind).toBeGreaterThanOrEqual(120_000)
          expect(behind).toBeLessThanOrEqual(180_000)
        } else {
          expect(behind).toBeGreaterThanOrEqual(50)
          expect(behind).toBeLessThanOrEqual(400)
        }
        expect(row.ingestedAt).toBe(Timestamp.fromMillis(Math.floor(window.at / 1000) * 1000))
      }
      // Late rows are among the rows, in insert order.
      expect(batch.late).toEqual(batch.rows.filter((row) => lateIds.has(row.id)))
    }
    expect(rows).toBe(20_000)
    expect(late / rows).toBeGreaterThan(0.18)
    expect(late / rows).toBeLessThan(0.22)
  })

  it("spreads delays over their whole range, and makes every row late or none", () => {
    const [window] = windows(1)
    const delays = new Set(trafficBatch({ rate: 20_000, sdkDelay: { min: 0, max: 9 } }, window!).rows.map((row) => window!.at - millisOf(row.timestamp)))
    expect([...delays].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(trafficBatch({ rate: 1000 }, window!).late).toEqual([])
    const all = trafficBatch({ rate: 1000, lateShare: 1 }, window!)
    expect(all.late).toEqual(all.rows)
  })

  it("writes production-shaped rows: decodable, over many users, in the given environments", () => {
    const [window] = windows(1)
    const { rows } = trafficBatch({ rate: 2000, envIds: ["env-1", "env-2"], users: 20_000 }, window!)
    const users = new Set<string>()
    for (const row of rows) {
      const decoded = decodeFeatBitRow(row)
      expect(decoded._tag).toBe("Right")
      if (decoded._tag === "Right") users.add(decoded.right.user.keyId)
      expect(["env-1", "env-2"]).toContain(row.envId)
    }
    // 2000 draws from 20,000 users: about 1,900 distinct.
    expect(users.size).toBeGreaterThan(1800)
  })

  it("refuses bad options and windows", () => {
    const [window] = windows(1)
    for (const options of [
      { rate: 0 },
      { rate: -1 },
      { rate: Number.NaN },
      { rate: 10, lateShare: 1.5 },
      { rate: 10, lateShare: -0.1 },
      { rate: 10, lateBy: { min: 10, max: 5 } },
      { rate: 10, sdkDelay: { min: -1, max: 5 } },
      { rate: 10, sdkDelay: { min: 0.5, max: 5 } }
    ]) {
      expect(() => trafficBatch(options, window!), JSON.stringify(options)).toThrow(RangeError)
    }
    expect(() => trafficBatch({ rate: 10 }, { start: t0, since: t0 + 10, at: t0 + 5 })).toThrow(RangeError)
    expect(() => trafficBatch({ rate: 10 }, { start: t0, since: t0, at: t0 + 0.5 })).toThrow(RangeError)
  })
})

/** An in-memory store that records each insert, optionally held or failed by the test. */
const memoryStore = (behave: (call: number, rows: ReadonlyArray<FeatBitRow>) => Promise<void> | void = () => undefined) => {
  const inserts: Array<ReadonlyArray<FeatBitRow>> = []
  const store: TrafficStore = {
    insert: async (rows) => {
      inserts.push(rows)
      await behave(inserts.length, rows)
    }
  }
  return { store, inserts }
}

/** A clock that reads one second later each time it is read: flush k happens at start + k seconds. */
const tickingClock = (from: number) => {
  let reads = 0
  return () => from + 1000 * reads++
}

describe("startTraffic", () => {
  it("inserts rate rows per second of its clock, each flush exactly the rows trafficBatch builds for it", async () => {
    const { store, inserts } = memoryStore()
    const options = { rate: 300, seed: 9, lateShare: 0.1, flushInterval: 5, now: tickingClock(t0) }
    const traffic = startTraffic(store, options)
    await until(() => inserts.length >= 5)
    await traffic.stop()
    const flushes = inserts.length
    expect(inserts.map((rows) => rows.length)).toEqual(Array.from({ length: flushes }, () => 300))
    expect(traffic.written()).toEqual(inserts.flat())
    const expected = windows(flushes).map((window) => trafficBatch(options, window))
    expect(traffic.written()).toEqual(expected.flatMap((batch) => batch.rows))
    expect(traffic.late()).toEqual(expected.flatMap((batch) => batch.late))
    expect(traffic.late().length).toBeGreaterThan(0)
  })

  it("stamps nothing after the present of its clock when it inserts", async () => {
    let clock = t0
    const presents: Array<number> = []
    const { store, inserts } = memoryStore(() => {
      presents.push(clock)
      clock += 700
    })
    const traffic = startTraffic(store, { rate: 1000, lateShare: 0.3, flushInterval: 2, now: () => clock++ })
    await until(() => inserts.length >= 6)
    await traffic.stop()
    inserts.forEach((rows, k) => {
      for (const row of rows) {
        expect(row.timestamp).toMatch(wholeMillis)
        expect(millisOf(row.timestamp)).toBeLessThanOrEqual(presents[k]!)
        expect(millisOf(row.ingestedAt!)).toBeLessThanOrEqual(presents[k]!)
      }
    })
    // Each flush is the clock read just before its insert; rows are the defaults' 0..1 s or 1..10 min behind it.
    const late = new Set(traffic.late().map((row) => row.id))
    expect(late.size).toBeGreaterThan(0)
    inserts.forEach((rows, k) => {
      const at = presents[k]! - 1
      for (const row of rows) {
        const behind = at - millisOf(row.timestamp)
        if (late.has(row.id)) expect(behind >= 60_000 && behind <= 600_000, `${behind}`).toBe(true)
        else expect(behind >= 0 && behind <= 1000, `${behind}`).toBe(true)
      }
    })
  })

  it("keeps the rate on the real clock by default, whatever the timer's jitter", async () => {
    const { store } = memoryStore()
    const started = Date.now()
    const traffic = startTraffic(store, { rate: 2000, flushInterval: 20 })
    await sleep(300)
    const before = Date.now()
    const written = traffic.written().length
    await traffic.stop()
    // Rows due up to the last flush: at most those due by now, at least those due two flushes ago.
    expect(written).toBeLessThanOrEqual(((before - started + 1) * 2000) / 1000 + 1)
    expect(written).toBeGreaterThanOrEqual(((before - started - 250) * 2000) / 1000)
  })

  it("stop() waits for the insert in progress, and nothing is inserted after it", async () => {
    const held = deferred()
    const { store, inserts } = memoryStore((call) => (call === 2 ? held.promise : undefined))
    const traffic = startTraffic(store, { rate: 100, flushInterval: 2, now: tickingClock(t0) })
    await until(() => inserts.length === 2)
    let stopped = false
    const stopping = traffic.stop().then(() => void (stopped = true))
    await sleep(30)
    expect(stopped).toBe(false)
    // The held insert has not finished, so its rows are not written yet.
    expect(traffic.written()).toHaveLength(100)
    held.resolve()
    await stopping
    expect(traffic.written()).toHaveLength(200)
    await sleep(30)
    expect(inserts).toHaveLength(2)
  })

  it("stops at the first failed insert, and stop() rejects with it", async () => {
    const failure = new Error("disk full")
    const { store, inserts } = memoryStore((call) => {
      if (call === 3) throw failure
    })
    const traffic = startTraffic(store, { rate: 50, flushInterval: 2, now: tickingClock(t0) })
    await until(() => inserts.length >= 3)
    await sleep(40)
    // No insert after the failure.
    expect(inserts).toHaveLength(3)
    await expect(traffic.stop()).rejects.toBe(failure)
    await expect(traffic.stop()).rejects.toBe(failure)
    expect(traffic.written()).toEqual(inserts.slice(0, 2).flat())
  })

  it("surfaces an insert that throws instead of rejecting", async () => {
    const failure = new TypeError("not a promise")
    const store: TrafficStore = {
      insert: () => {
        throw failure
      }
    }
    const traffic = startTraffic(store, { rate: 50, flushInterval: 2, now: tickingClock(t0) })
    await sleep(30)
    await expect(traffic.stop()).rejects.toBe(failure)
    expect(traffic.written()).toEqual([])
  })

  it("refuses bad options at the call", () => {
    const { store } = memoryStore()
    expect(() => startTraffic(store, { rate: 0 })).toThrow(RangeError)
    expect(() => startTraffic(store, { rate: 10, flushInterval: 0 })).toThrow(RangeError)
    expect(() => startTraffic(store, { rate: 10, flushInterval: 2.5 })).toThrow(RangeError)
    expect(() => startTraffic(store, { rate: 10, lateShare: 2 })).toThrow(RangeError)
  })

  it("does not keep the process alive when a test forgets to stop it", () => {
    // The built module, in a process of its own: it must exit once its own work is done.
    const dist = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "traffic", "index.js")).href
    const script = `
      import { startTraffic } from ${JSON.stringify(dist)}
      let inserts = 0
      startTraffic({ insert: async () => void inserts++ }, { rate: 100, flushInterval: 20 })
      setTimeout(() => console.log("inserts " + inserts), 200)
    `
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 10_000 })
    expect(run.error).toBeUndefined()
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    // It did write while the process had other work.
    expect(Number(/inserts (\d+)/.exec(run.stdout)?.[1])).toBeGreaterThan(2)
  })
})

describe("mongoTrafficStore", () => {
  it("inserts FeatBit Standard's Events documents into featbit.Events, or the collection given", async () => {
    const calls: Array<{ database: string; collection: string; documents: ReadonlyArray<unknown> }> = []
    const server = { insert: (database: string, collection: string, documents: ReadonlyArray<unknown>) => void calls.push({ database, collection, documents }) }
    const { rows } = trafficBatch({ rate: 20 }, windows(1)[0]!)
    await mongoTrafficStore(server).insert(rows)
    await mongoTrafficStore(server, "fb", "events_v2").insert(rows.slice(0, 3))
    expect(calls.map(({ database, collection, documents }) => [database, collection, documents.length])).toEqual([
      ["featbit", "Events", 20],
      ["fb", "events_v2", 3]
    ])
    expect(calls[0]!.documents).toEqual(rows.map(toMongoEventDocument))
  })
})
