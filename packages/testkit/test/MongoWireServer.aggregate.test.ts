/**
 * The wire server's aggregation, run directly: MongoDB's numeric result types, its null and missing rules,
 * and its error codes. (The official driver's view of the same server is packages/source-mongo/test/wire-server.test.ts.)
 */
import { type Document, Double, Int32, Long } from "bson"
import { describe, expect, it } from "vitest"
import { CommandError, runPipeline } from "../src/mongo/aggregate.js"

const NOW = new Date("2030-01-01T00:00:00.000Z")
const run = (docs: ReadonlyArray<Document>, pipeline: Array<Document>, now = NOW) => runPipeline(docs, pipeline, pipeline, now)

/** `[type, value]` of a result value: the bson type it serializes as and its value as text. */
const typed = (value: unknown): [string, string] => {
  const tag = (value as { _bsontype?: string } | null)?._bsontype
  if (tag !== undefined) return [tag, String(value)]
  if (value instanceof Date) return ["Date", value.toISOString()]
  return [value === null ? "null" : typeof value, String(value)]
}

/** The value of one expression on one document. */
const value = (expression: unknown, doc: Document = {}): unknown => {
  const [out] = run([doc], [{ $project: { _id: 0, v: expression } }])
  return out?.["v"]
}

const codeOf = (f: () => unknown): number | string => {
  try {
    f()
    return "no error"
  } catch (error) {
    return error instanceof CommandError ? error.code : `not a CommandError: ${String(error)}`
  }
}

describe("expressions", () => {
  it("Date minus Date is a long of milliseconds; Date minus a number is a Date; int minus int an int", () => {
    const doc = { t: new Date(12_345), u: new Date(-5) }
    expect(typed(value({ $subtract: ["$t", new Date(0)] }, doc))).toEqual(["Long", "12345"])
    expect(typed(value({ $subtract: ["$u", "$t"] }, doc))).toEqual(["Long", "-12350"])
    expect(typed(value({ $subtract: ["$t", new Int32(345)] }, doc))).toEqual(["Date", "1970-01-01T00:00:12.000Z"])
    expect(typed(value({ $subtract: [new Int32(7), new Int32(9)] }))).toEqual(["Int32", "-2"])
    expect(typed(value({ $subtract: [new Int32(-(2 ** 31)), new Int32(1)] }))).toEqual(["Long", String(-(2 ** 31) - 1)])
    expect(typed(value({ $subtract: [new Double(1.5), new Int32(1)] }))).toEqual(["Double", "0.5"])
    expect(value({ $subtract: ["$missing", new Date(0)] }, doc)).toBeNull()
    expect(value({ $subtract: [null, 1] })).toBeNull()
    expect(codeOf(() => value({ $subtract: ["text", 1] }))).toBe(16556)
    expect(codeOf(() => value({ $subtract: [1, new Date(0)] }))).toBe(16556)
    expect(codeOf(() => value({ $subtract: [1] }))).toBe(16020)
  })

  it("$toLong: a Date's milliseconds, doubles truncated, strings parsed, failures as ConversionFailure", () => {
    expect(typed(value({ $toLong: "$t" }, { t: new Date(-1) }))).toEqual(["Long", "-1"])
    expect(typed(value({ $toLong: "$t" }, { t: new Date(1_740_823_200_123) }))).toEqual(["Long", "1740823200123"])
    expect(typed(value({ $toLong: new Double(2.9) }))).toEqual(["Long", "2"])
    expect(typed(value({ $toLong: new Double(-2.9) }))).toEqual(["Long", "-2"])
    expect(typed(value({ $toLong: new Int32(5) }))).toEqual(["Long", "5"])
    expect(typed(value({ $toLong: "9007199254740993" }))).toEqual(["Long", "9007199254740993"])
    expect(typed(value({ $toLong: true }))).toEqual(["Long", "1"])
    expect(value({ $toLong: "$missing" })).toBeNull()
    expect(codeOf(() => value({ $toLong: "12a" }))).toBe(241)
    expect(codeOf(() => value({ $toLong: new Double(Number.NaN) }))).toBe(241)
    expect(codeOf(() => value({ $toLong: new Double(1e19) }))).toBe(241)
  })

  it("$divide is always a double; $floor keeps ints and floors doubles towards minus infinity", () => {
    expect(typed(value({ $divide: [new Int32(10), new Int32(5)] }))).toEqual(["Double", "2"])
    expect(typed(value({ $divide: [Long.fromNumber(-1), new Int32(10_000)] }))).toEqual(["Double", "-0.0001"])
    expect(typed(value({ $floor: { $divide: [Long.fromNumber(-1), new Int32(10_000)] } }))).toEqual(["Double", "-1"])
    expect(typed(value({ $floor: { $divide: [Long.fromNumber(19_999), new Int32(10_000)] } }))).toEqual(["Double", "1"])
    expect(typed(value({ $floor: new Int32(-3) }))).toEqual(["Int32", "-3"])
    expect(typed(value({ $floor: Long.fromNumber(7) }))).toEqual(["Long", "7"])
    expect(codeOf(() => value({ $divide: [1, 0] }))).toBe(2)
    expect(codeOf(() => value({ $divide: ["a", 1] }))).toBe(16609)
    expect(codeOf(() => value({ $floor: "a" }))).toBe(28765)
  })

  it("$add and $multiply widen int to long to double on overflow, and add milliseconds to one Date", () => {
    expect(typed(value({ $add: [new Int32(2 ** 31 - 1), new Int32(1)] }))).toEqual(["Long", String(2 ** 31)])
    expect(typed(value({ $add: [Long.fromString("9223372036854775807"), new Int32(1)] }))).toEqual(["Double", "9223372036854776000"])
    expect(typed(value({ $multiply: [new Int32(3), new Int32(4)] }))).toEqual(["Int32", "12"])
    expect(typed(value({ $add: [new Date(1_000), new Int32(500)] }))).toEqual(["Date", "1970-01-01T00:00:01.500Z"])
    expect(codeOf(() => value({ $add: [new Date(0), new Date(0)] }))).toBe(16612)
  })

  it("reads $$NOW from the server's clock (one instant for the command), $$ROOT, and refuses unknown names", () => {
    const out = run([{ a: 1 }, { a: 2 }], [{ $project: { _id: 0, now: "$$NOW", a: "$$ROOT.a" } }])
    expect(out).toEqual([
      { now: NOW, a: 1 },
      { now: NOW, a: 2 }
    ])
    expect(codeOf(() => value("$$NOPE"))).toBe(17276)
    expect(codeOf(() => value({ $toDate: "$a" }))).toBe(168)
    expect(value({ $literal: "$notAPath" })).toBe("$notAPath")
  })
})

describe("stages", () => {
  it("$group puts numbers that are equal by value in one group, missing _id under null, and types $sum as MongoDB", () => {
    const docs = [
      { k: new Int32(1), v: new Int32(2 ** 31 - 1) },
      { k: new Double(1), v: new Int32(1) },
      { k: Long.fromNumber(1), v: "skipped" },
      { v: new Int32(5) },
      { k: null, v: new Double(0.5) },
      { k: "1", v: new Int32(1) }
    ]
    const out = run(docs, [{ $group: { _id: "$k", total: { $sum: "$v" }, n: { $sum: 1 } } }])
    expect(out.map((doc) => [typed(doc["_id"]), typed(doc["total"]), typed(doc["n"])])).toEqual([
      [["Int32", "1"], ["Long", String(2 ** 31)], ["Int32", "3"]],
      [["null", "null"], ["Double", "5.5"], ["Int32", "2"]],
      [["string", "1"], ["Int32", "1"], ["Int32", "1"]]
    ])
  })

  it("$min and $max skip null and missing, compare in BSON type order, and are null for a group of nothing", () => {
    const docs = [{ g: 1, v: 3 }, { g: 1, v: null }, { g: 1 }, { g: 1, v: "a" }, { g: 1, v: new Date(0) }, { g: 2 }, { g: 2, v: null }]
    const out = run(docs, [{ $group: { _id: "$g", lo: { $min: "$v" }, hi: { $max: "$v" } } }, { $sort: { _id: 1 } }])
    expect(out).toEqual([
      { _id: 1, lo: 3, hi: new Date(0) },
      { _id: 2, lo: null, hi: null }
    ])
  })

  it("$match after $group compares the typed results by value", () => {
    const docs = Array.from({ length: 10 }, (_, i) => ({ g: i % 3 }))
    const out = run(docs, [{ $group: { _id: "$g", n: { $sum: 1 } } }, { $match: { n: { $gte: 4 } } }])
    expect(out.map((doc) => Number(doc["_id"]))).toEqual([0])
  })

  it("$project: inclusion keeps _id first and the document's order, computed fields follow, missing ones are left out", () => {
    const doc = { b: 2, _id: "x", a: { c: 1, d: 2 }, e: 5 }
    const [projected] = run([doc], [{ $project: { e: 1, b: 1, twice: { $multiply: ["$b", 2] }, gone: "$nothing" } }])
    expect(Object.keys(projected!)).toEqual(["_id", "b", "e", "twice"])
    expect([projected!["_id"], projected!["b"], projected!["e"], typed(projected!["twice"])]).toEqual(["x", 2, 5, ["Int32", "4"]])
    expect(Object.keys(run([doc], [{ $project: { e: 1, b: 1 } }])[0]!)).toEqual(["_id", "b", "e"])
    expect(run([doc], [{ $project: { "a.c": 1, _id: 0 } }])).toEqual([{ a: { c: 1 } }])
    expect(run([doc], [{ $project: { _id: 1 } }])).toEqual([{ _id: "x" }])
    expect(run([doc], [{ $project: { _id: 0 } }])).toEqual([{ b: 2, a: { c: 1, d: 2 }, e: 5 }])
    expect(run([doc], [{ $project: { "a.d": 0, e: false } }])).toEqual([{ b: 2, _id: "x", a: { c: 1 } }])
    expect(codeOf(() => run([doc], [{ $project: { a: 0, b: 1 } }]))).toBe(31254)
    expect(codeOf(() => run([doc], [{ $project: { a: 1, "a.c": 1 } }]))).toBe(31250)
    expect(codeOf(() => run([doc], [{ $project: {} }]))).toBe(51272)
  })

  it("$sort on several keys in BSON order, $skip and $limit, and their errors", () => {
    const docs = [{ a: 2, b: "x" }, { a: 1, b: "z" }, { a: 2, b: "a" }, { a: "s", b: "m" }, { b: "n" }]
    const sorted = run(docs, [{ $sort: { a: -1, b: 1 } }, { $skip: 1 }, { $limit: 3 }, { $project: { _id: 0, b: 1 } }])
    expect(sorted).toEqual([{ b: "a" }, { b: "x" }, { b: "z" }])
    expect(codeOf(() => run(docs, [{ $sort: { a: 2 } }]))).toBe(15975)
    expect(codeOf(() => run(docs, [{ $sort: {} }]))).toBe(15976)
    expect(codeOf(() => run(docs, [{ $limit: 0 }]))).toBe(15958)
    expect(codeOf(() => run(docs, [{ $skip: -1 }]))).toBe(15956)
    expect(codeOf(() => run(docs, [{ $unwind: "$a" }]))).toBe(40324)
    expect(codeOf(() => run(docs, [{ $match: {}, $limit: 1 }]))).toBe(40323)
  })

  it("does not change the documents it reads", () => {
    const docs = [{ _id: 1, a: { b: 1 } }]
    run(docs, [{ $project: { "a.b": 0 } }, { $sort: { _id: -1 } }])
    expect(docs).toEqual([{ _id: 1, a: { b: 1 } }])
  })
})
