import { Cursor, type FeatBitRow, Timestamp } from "@featbit-export/core"
import { describe, expect, it } from "vitest"
import {
  MAX_FLAGS,
  MAX_RATE,
  MAX_USERS,
  MIN_RATE,
  defaultEnvIds,
  eventNames,
  flagPool,
  generateRows,
  handWrittenUsers
} from "../src/index.js"

const take = (options: Parameters<typeof generateRows>[0]): Array<FeatBitRow> => [...generateRows(options)]
const propertiesOf = (row: FeatBitRow): Record<string, unknown> => JSON.parse(row.properties as string) as Record<string, unknown>
const userOf = (row: FeatBitRow): { keyId: string; name: string } => {
  const p = propertiesOf(row)
  return row.event === "FlagValue"
    ? { keyId: p["userKeyId"] as string, name: p["userName"] as string }
    : (p["user"] as { keyId: string; name: string })
}

// FeatBit's serialization order (featbit-data.md section 2, Insight.cs).
const flagValueKeys = [
  "route", "flagId", "envId", "accountId", "projectId", "featureFlagKey", "sendToExperiment",
  "userKeyId", "userName", "variationId", "tag_0", "tag_1", "tag_2", "tag_3"
]
const metricKeys = [
  "route", "type", "eventName", "numericValue", "user", "applicationType", "projectId", "envId",
  "accountId", "tag_0", "tag_1", "tag_2"
]

/** Sizes of the runs of consecutive rows that share a timestamp. */
const tieGroups = (rows: ReadonlyArray<FeatBitRow>): Array<number> => {
  const sizes: Array<number> = []
  for (let i = 0; i < rows.length; i++) {
    if (i > 0 && rows[i]!.timestamp === rows[i - 1]!.timestamp) sizes[sizes.length - 1]! += 1
    else sizes.push(1)
  }
  return sizes
}

describe("generateRows", () => {
  it("gives the same rows for the same seed, and other rows for another seed", () => {
    const a = take({ count: 2000, seed: 42 })
    const b = take({ count: 2000, seed: 42 })
    const c = take({ count: 2000, seed: 43 })
    expect(b).toEqual(a)
    expect(a).toHaveLength(2000)
    const ids = new Set(a.map((row) => row.id))
    expect(c.filter((row) => ids.has(row.id))).toHaveLength(0)
    expect(c.map((row) => row.properties)).not.toEqual(a.map((row) => row.properties))
  })

  it("distinguishes seeds that differ only above 32 bits", () => {
    const low = take({ count: 20, seed: 5 })
    const high = take({ count: 20, seed: 5 + 2 ** 32 })
    expect(high.map((row) => row.id)).not.toEqual(low.map((row) => row.id))
  })

  it("makes a smaller count a prefix of a larger one", () => {
    const long = take({ count: 3000, seed: 9 })
    for (const count of [0, 1, 2, 3, 7, 1234]) expect(take({ count, seed: 9 })).toEqual(long.slice(0, count))
  })

  it("emits rows in strict keyset order", () => {
    for (const options of [{ count: 20_000, seed: 1 }, { count: 5000, seed: 2, maxTie: 12 }, { count: 3000, seed: 3, tieBurst: 700 }]) {
      const rows = take(options)
      for (let i = 1; i < rows.length; i++) expect(Cursor.compare(rows[i - 1]!, rows[i]!)).toBeLessThan(0)
    }
  })

  it("writes ids as lowercase UUID v4 and timestamps as whole milliseconds", () => {
    for (const row of take({ count: 2000, seed: 4 })) {
      expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      expect(row.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}000Z$/)
    }
  })

  it("sets ingestedAt to the next whole second after the event time", () => {
    for (const row of take({ count: 2000, seed: 5 })) {
      const micros = Timestamp.toMicros(row.timestamp)
      expect(row.ingestedAt).toBeDefined()
      const ingested = Timestamp.toMicros(row.ingestedAt!)
      expect(ingested % 1_000_000n).toBe(0n)
      expect(ingested > micros).toBe(true)
      expect(ingested - micros <= 1_000_000n).toBe(true)
    }
  })

  it("starts at the given time, rounded up to a whole millisecond", () => {
    expect(take({ count: 1, seed: 1 })[0]!.timestamp).toBe("2024-01-01T00:00:00.000000Z")
    const start = Timestamp.parse("2023-12-12T07:42:13.320000Z")!
    expect(take({ count: 1, seed: 1, start })[0]!.timestamp).toBe(start)
    const between = Timestamp.parse("2023-12-12T07:42:13.320400Z")!
    expect(take({ count: 1, seed: 1, start: between })[0]!.timestamp).toBe("2023-12-12T07:42:13.321000Z")
  })

  it("produces ties, never larger than maxTie, and none with maxTie 1", () => {
    const sizes = tieGroups(take({ count: 5000, seed: 6 }))
    expect(Math.max(...sizes)).toBe(4)
    expect(sizes.filter((size) => size > 1).length).toBeGreaterThan(sizes.length / 5)
    expect(Math.max(...tieGroups(take({ count: 5000, seed: 6, maxTie: 9 })))).toBe(9)
    expect(Math.max(...tieGroups(take({ count: 5000, seed: 6, maxTie: 1 })))).toBe(1)
  })

  it("puts the first tieBurst rows on one timestamp", () => {
    const rows = take({ count: 1000, seed: 7, tieBurst: 250 })
    expect(tieGroups(rows)[0]).toBe(250)
    expect(rows[250]!.timestamp > rows[249]!.timestamp).toBe(true)
    expect(tieGroups(take({ count: 100, seed: 7, tieBurst: 500 }))).toEqual([100])
  })

  it("generates both event kinds and the three metric types in a few thousand rows", () => {
    const rows = take({ count: 3000, seed: 8 })
    const byKind = new Map<string, number>()
    for (const row of rows) byKind.set(row.event, (byKind.get(row.event) ?? 0) + 1)
    expect([...byKind.keys()].sort()).toEqual(["Click", "CustomEvent", "FlagValue", "PageView"])
    const flagShare = byKind.get("FlagValue")! / rows.length
    expect(flagShare).toBeGreaterThan(0.6)
    expect(flagShare).toBeLessThan(0.8)
    expect(byKind.get("CustomEvent")!).toBeGreaterThan(byKind.get("PageView")!)
    expect(byKind.get("CustomEvent")!).toBeGreaterThan(byKind.get("Click")!)
  })

  it("writes FlagValue rows exactly as FeatBit does", () => {
    const rows = take({ count: 3000, seed: 10 }).filter((row) => row.event === "FlagValue")
    const flags = flagPool()
    const flagKeys = new Set(flags.map((flag) => flag.key))
    const sends = new Set<unknown>()
    for (const row of rows) {
      expect(typeof row.properties).toBe("string")
      const p = propertiesOf(row)
      expect(Object.keys(p)).toEqual(flagValueKeys)
      expect(p["route"]).toBe("/Variation/GetMultiOptionVariation")
      expect(p["envId"]).toBe(row.envId)
      expect(p["accountId"]).toBe("")
      expect(p["projectId"]).toBe("")
      expect(row.distinctId).toBe(`${row.envId}-${p["featureFlagKey"] as string}`)
      expect(p["flagId"]).toBe(row.distinctId)
      expect(p["featureFlagKey"]).toMatch(/^[a-zA-Z0-9._-]+$/)
      expect(flagKeys.has(p["featureFlagKey"] as string)).toBe(true)
      expect(typeof p["sendToExperiment"]).toBe("boolean")
      sends.add(p["sendToExperiment"])
      expect(p["tag_0"]).toBe(p["userKeyId"])
      expect(p["tag_1"]).toBe(p["variationId"])
      expect(p["tag_2"]).toBe(String(p["sendToExperiment"]))
      expect(p["tag_3"]).toBe(p["userName"])
      const flag = flags.find((f) => f.key === p["featureFlagKey"])!
      expect(flag.variationIds).toContain(p["variationId"])
    }
    expect([...sends].sort()).toEqual([false, true])
  })

  it("writes metric rows exactly as FeatBit does", () => {
    const rows = take({ count: 3000, seed: 11 }).filter((row) => row.event !== "FlagValue")
    let fractional = 0
    let whole = 0
    for (const row of rows) {
      const raw = row.properties as string
      const p = propertiesOf(row)
      expect(Object.keys(p)).toEqual(metricKeys)
      expect(p["route"]).toBe("index/metric")
      expect(p["type"]).toBe(row.event)
      expect(row.distinctId).toBe(p["eventName"])
      expect(p["eventName"]).toMatch(/^[a-zA-Z0-9_-]{1,40}$/)
      expect(eventNames[row.event as "CustomEvent" | "PageView" | "Click"]).toContain(p["eventName"])
      expect(p["envId"]).toBe(row.envId)
      const value = p["numericValue"] as number
      expect(typeof value).toBe("number")
      if (Number.isInteger(value)) whole++
      else fractional++
      // A whole float is written without a fraction, as .NET writes it.
      if (value === 1) expect(raw).toContain('"numericValue":1,')
      expect(Object.keys(p["user"] as object)).toEqual(["keyId", "name"])
      const user = p["user"] as { keyId: string; name: string }
      expect(p["tag_0"]).toBe(user.keyId)
      expect(Number(p["tag_1"])).toBe(value)
      expect(p["tag_2"]).toBe(user.name)
      expect(["dotnet-server-side", "javaserverside", "goserverside", "rust-server-side", "ruby-server-side"]).toContain(
        p["applicationType"]
      )
    }
    expect(whole).toBeGreaterThan(0)
    expect(fractional).toBeGreaterThan(0)
  })

  it("draws only hand-written users with a pool of their size, including names that need escaping", () => {
    const rows = take({ count: 5000, seed: 12, users: handWrittenUsers.length })
    const names = new Set(rows.map((row) => userOf(row).name))
    expect(handWrittenUsers.length).toBeGreaterThanOrEqual(24)
    for (const name of names) expect(handWrittenUsers.map((user) => user.name)).toContain(name)
    expect([...names].some((name) => name.includes("'"))).toBe(true)
    expect([...names].some((name) => name.includes('"'))).toBe(true)
    expect([...names].some((name) => name.includes("\\"))).toBe(true)
    expect([...names].some((name) => name.includes("\t"))).toBe(true)
    expect(names.has("")).toBe(true)
    expect([...names].some((name) => /[^\x00-\x7f]/.test(name))).toBe(true)
  })

  it("spreads rows over the given environments", () => {
    expect(new Set(take({ count: 500, seed: 13 }).map((row) => row.envId))).toEqual(new Set(defaultEnvIds))
    const envIds = ["env-a", "env-b", "env-c"]
    expect(new Set(take({ count: 500, seed: 13, envIds }).map((row) => row.envId))).toEqual(new Set(envIds))
  })

  it("breaks only the properties of every N-th row", () => {
    const clean = take({ count: 600, seed: 14 })
    const broken = take({ count: 600, seed: 14, malformedEvery: 7 })
    expect(broken.map(({ properties: _, ...rest }) => rest)).toEqual(clean.map(({ properties: _, ...rest }) => rest))
    broken.forEach((row, i) => {
      if ((i + 1) % 7 === 0) expect(row.properties).not.toEqual(clean[i]!.properties)
      else expect(row.properties).toEqual(clean[i]!.properties)
    })
  })

  it("refuses invalid options when called", () => {
    expect(() => generateRows({ count: -1 })).toThrow(RangeError)
    expect(() => generateRows({ count: 1.5 })).toThrow(RangeError)
    expect(() => generateRows({ count: 10, maxTie: 0 })).toThrow(RangeError)
    expect(() => generateRows({ count: 10, maxTie: 1_000_001 })).toThrow(RangeError)
    expect(() => generateRows({ count: 10, tieBurst: -2 })).toThrow(RangeError)
    expect(() => generateRows({ count: 10, malformedEvery: -1 })).toThrow(RangeError)
    expect(() => generateRows({ count: 10, envIds: [] })).toThrow(RangeError)
    expect(() => generateRows({ count: 10, seed: 0.5 })).toThrow(RangeError)
    expect(() => generateRows({ count: 10, start: "2024-02-30T00:00:00.000000Z" as Timestamp.Timestamp })).toThrow(RangeError)
    expect(() => generateRows({})).toThrow(/count is required unless rate is set/)
    for (const users of [0, 1.5, MAX_USERS + 1]) expect(() => generateRows({ count: 10, users }), `users ${users}`).toThrow(RangeError)
    for (const flags of [0, 2.5, MAX_FLAGS + 1]) expect(() => generateRows({ count: 10, flags }), `flags ${flags}`).toThrow(RangeError)
    for (const rate of [0, -5, Number.NaN, Number.POSITIVE_INFINITY, MIN_RATE / 2, MAX_RATE * 2]) {
      expect(() => generateRows({ count: 10, rate }), `rate ${rate}`).toThrow(RangeError)
    }
  })
})
