import { describe, expect, it } from "vitest"
import { chunkRequests, requestPacker } from "../src/RequestChunks.js"

const items = (...sizes: Array<number>) => sizes.map((bytes, n) => ({ n, bytes }))
const ns = (groups: ReadonlyArray<ReadonlyArray<{ n: number }>>) => groups.map((group) => group.map((item) => item.n))

describe("chunkRequests", () => {
  it("keeps the order and at most maxItems per request", () => {
    expect(ns(chunkRequests(items(1, 1, 1, 1, 1), 2, 1_000))).toEqual([[0, 1], [2, 3], [4]])
  })

  it("counts a comma between items and the envelope around them against maxBytes", () => {
    // 10 + 1 + 10 = 21 bytes of items
    expect(ns(chunkRequests(items(10, 10, 10), 100, 21))).toEqual([[0, 1], [2]])
    expect(ns(chunkRequests(items(10, 10, 10), 100, 20))).toEqual([[0], [1], [2]])
    expect(ns(chunkRequests(items(10, 10, 10), 100, 23, 2))).toEqual([[0, 1], [2]])
    expect(ns(chunkRequests(items(10, 10, 10), 100, 22, 2))).toEqual([[0], [1], [2]])
  })

  it("gives an item too large on its own a request of its own", () => {
    expect(ns(chunkRequests(items(5, 50, 5), 100, 20))).toEqual([[0], [1], [2]])
  })

  it("makes no request of no items", () => {
    expect(chunkRequests([], 10, 100)).toEqual([])
  })
})

describe("requestPacker", () => {
  it("hands each group on as soon as it is full, and the last one at the end", () => {
    const seen: Array<Array<number>> = []
    const pack = requestPacker<{ n: number; bytes: number }>(2, 1_000, 0, (group) => void seen.push(group.map((item) => item.n)))
    for (const item of items(1, 1, 1)) pack.add(item)
    expect(seen).toEqual([[0, 1]])
    pack.end()
    expect(seen).toEqual([[0, 1], [2]])
    pack.end()
    expect(seen).toEqual([[0, 1], [2]])
  })
})
