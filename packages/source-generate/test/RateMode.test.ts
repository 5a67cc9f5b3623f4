import { Cursor, type FeatBitRow, Timestamp } from "@featbit-export/core"
import { describe, expect, it } from "vitest"
import { type GenerateOptions, generateRows, generateRowsAfter } from "../src/index.js"

const start = Timestamp.parse("2024-03-10T12:00:00.000000Z")!
const startMs = Date.parse("2024-03-10T12:00:00.000Z")

const take = (options: GenerateOptions, n = Number.POSITIVE_INFINITY): Array<FeatBitRow> => {
  const rows: Array<FeatBitRow> = []
  for (const row of generateRows(options)) {
    if (rows.length >= n) break
    rows.push(row)
  }
  return rows
}

/** What the rate promises for row i, computed here rather than by the generator. */
const expectedStamp = (i: number, rate: number): Timestamp.Timestamp => Timestamp.fromMillis(startMs + Math.floor((i * 1000) / rate))

describe("generateRows with a rate", () => {
  it("stamps row i at start + floor(i * 1000 / rate), in whole milliseconds", () => {
    for (const rate of [3, 200, 1000, 2500, 200 / 60]) {
      const rows = take({ count: 3000, seed: 1, rate, start })
      expect(rows).toHaveLength(3000)
      rows.forEach((row, i) => {
        expect(row.timestamp, `rate ${rate}, row ${i}`).toBe(expectedStamp(i, rate))
        expect(row.timestamp.endsWith("000Z")).toBe(true)
      })
    }
  })

  it("sorts rows sharing a millisecond by id, so keyset order holds", () => {
    const rows = take({ count: 20_000, seed: 2, rate: 7500, start })
    let ties = 0
    for (let i = 1; i < rows.length; i++) {
      expect(Cursor.compare(rows[i - 1]!, rows[i]!)).toBeLessThan(0)
      if (rows[i]!.timestamp === rows[i - 1]!.timestamp) ties++
    }
    // 7.5 rows a millisecond: most rows share theirs.
    expect(ties).toBeGreaterThan(rows.length / 2)
  })

  it("ignores maxTie and tieBurst", () => {
    const plain = take({ count: 2000, seed: 3, rate: 4000, start })
    expect(take({ count: 2000, seed: 3, rate: 4000, start, maxTie: 1, tieBurst: 500 })).toEqual(plain)
  })

  it("stamps ingestedAt at the next whole second, as FeatBit's once-a-second insert does", () => {
    for (const row of take({ count: 3000, seed: 4, rate: 700, start })) {
      const ms = Date.parse(row.timestamp.slice(0, 23) + "Z")
      expect(row.ingestedAt).toBe(Timestamp.fromMillis((Math.floor(ms / 1000) + 1) * 1000))
    }
  })

  it("gives the same rows for the same options, others for another seed, and a prefix for a smaller count", () => {
    const long = take({ count: 5000, seed: 5, rate: 3000, start })
    expect(take({ count: 5000, seed: 5, rate: 3000, start })).toEqual(long)
    const other = take({ count: 5000, seed: 6, rate: 3000, start })
    expect(other.map((row) => row.id)).not.toEqual(long.map((row) => row.id))
    // Counts that cut a millisecond's group in the middle too (3 rows share most milliseconds).
    for (const count of [0, 1, 2, 1024, 1025, 2049, 4001]) expect(take({ count, seed: 5, rate: 3000, start })).toEqual(long.slice(0, count))
  })

  it("never ends without a count, and agrees with a counted run", () => {
    const endless = take({ seed: 7, rate: 50, start }, 4000)
    expect(endless).toHaveLength(4000)
    expect(endless).toEqual(take({ count: 4000, seed: 7, rate: 50, start }))
  })

  it("starts at the clock's current time when start is not given", () => {
    const now = startMs + 1234
    const rows = take({ count: 3, seed: 8, rate: 10, now: () => now })
    expect(rows.map((row) => row.timestamp)).toEqual([0, 100, 200].map((offset) => Timestamp.fromMillis(now + offset)))
  })

  it("breaks every N-th row's properties, as without a rate", () => {
    const clean = take({ count: 600, seed: 9, rate: 2000, start })
    const broken = take({ count: 600, seed: 9, rate: 2000, start, malformedEvery: 7 })
    broken.forEach((row, i) => {
      expect(row.id).toBe(clean[i]!.id)
      if ((i + 1) % 7 === 0) expect(row.properties).not.toEqual(clean[i]!.properties)
      else expect(row.properties).toEqual(clean[i]!.properties)
    })
  })
})

describe("generateRowsAfter with a rate", () => {
  const options = { count: 6000, seed: 10, rate: 2500, start }
  const all = take(options)

  it("resumes exactly after any row, inside a millisecond's group and across PRNG blocks", () => {
    for (const i of [0, 1, 2, 500, 1023, 1024, 1025, 2047, 4096, 5998, 5999]) {
      const rest = [...generateRowsAfter(options, Cursor.of(all[i]!))]
      expect(rest, `after row ${i}`).toEqual(all.slice(i + 1))
    }
  })

  it("resumes from cursors that are not rows: between ids, inside a millisecond, before the start", () => {
    const row = all[3000]!
    const between = { timestamp: row.timestamp, id: row.id + "0" }
    expect([...generateRowsAfter(options, between)]).toEqual(all.filter((r) => Cursor.compare(r, between) > 0))
    const inside = Timestamp.fromMicros(Timestamp.toMicros(row.timestamp) + 500n)
    expect([...generateRowsAfter(options, { timestamp: inside, id: "" })]).toEqual(all.filter((r) => r.timestamp > inside))
    const before = { timestamp: Timestamp.fromMillis(startMs - 60_000), id: "" }
    expect([...generateRowsAfter(options, before)]).toEqual(all)
  })

  it("stops at `through`: only rows stamped at or before it", () => {
    const through = startMs + 999
    const due = [...generateRowsAfter(options, undefined, through)]
    // floor(i * 1000 / 2500) <= 999 for i < 2500.
    expect(due).toEqual(all.slice(0, 2500))
    const later = [...generateRowsAfter(options, Cursor.of(due[due.length - 1]!), through + 1000)]
    expect(later).toEqual(all.slice(2500, 5000))
  })

  it("reaches a row a hundred million rows in without drawing the rows before it", () => {
    const far = { seed: 11, rate: 1000, start }
    // At 1000/s row i is alone in millisecond i: a cursor on row n - 1 is its timestamp with the highest id.
    const n = 100_000_000
    const cursorAt = (i: number) => ({ timestamp: expectedStamp(i, 1000), id: "g" })
    const started = performance.now()
    const next = [...generateRowsAfter({ ...far, count: n + 5 }, cursorAt(n - 1))]
    const elapsed = performance.now() - started
    expect(next.map((row) => row.timestamp)).toEqual([0, 1, 2, 3, 4].map((k) => expectedStamp(n + k, 1000)))
    // Drawing 100M rows' numbers would take tens of seconds.
    expect(elapsed).toBeLessThan(2000)
    // And the rows are the same as those reached from a little earlier.
    const earlier = [...generateRowsAfter({ ...far, count: n + 5 }, cursorAt(n - 3))]
    expect(earlier.slice(2)).toEqual(next)
  })
})
