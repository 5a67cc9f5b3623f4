import { chunkBySize, planColumns } from "@featbit-export/core"
import { copyLine } from "@featbit-export/sink-postgres"
import { describe, expect, it } from "vitest"
import { type CopyChunk, copyChunks } from "../src/CopyChunks.js"
import { sampleEvents } from "./support.js"

const plan = planColumns(undefined)
const encodeCounting = () => {
  const encoded: Array<string> = []
  return { encoded, encode: (event: Parameters<typeof copyLine>[1]) => (encoded.push(event.id), copyLine(plan, event)) }
}
const textOf = (pieces: Iterable<Buffer>) => Buffer.concat([...pieces]).toString()

describe("copyChunks", () => {
  it("cuts a batch where chunkBySize does, and each chunk's text is its lines in order", () => {
    const events = sampleEvents(3_000, 71)
    const lines = events.map((event) => copyLine(plan, event))
    // A line larger than the bound on its own, in the middle.
    const big = { ...events[1_500]!, properties: { blob: "x".repeat(300_000) } }
    events[1_500] = big
    lines[1_500] = copyLine(plan, big)
    const expected = chunkBySize(lines, (line) => line.bytes, 256 * 1024)
    const { encode } = encodeCounting()
    const chunks = [...copyChunks(events, encode, 256 * 1024)].map((chunk) => ({ text: textOf(chunk.text), ids: chunk.lines().map((line) => line.event.id) }))
    expect(chunks.map((chunk) => chunk.ids)).toEqual(expected.map((chunk) => chunk.map((line) => line.event.id)))
    expect(chunks.map((chunk) => chunk.text)).toEqual(expected.map((chunk) => chunk.map((line) => line.line).join("")))
    expect(chunks.some((chunk) => chunk.ids.length === 1 && chunk.ids[0] === big.id)).toBe(true)
  })

  it("encodes lines only as the COPY reads them, and a chunk read part way still holds every line", () => {
    const events = sampleEvents(2_000, 72)
    const { encoded, encode } = encodeCounting()
    const chunks = copyChunks(events, encode, 1024 * 1024)
    const first = chunks.next().value as CopyChunk
    expect(encoded.length).toBe(0)
    const pieces = first.text[Symbol.iterator]()
    const piece = pieces.next().value!
    // One piece of text read: only the lines in it (and the one that overflowed it) are encoded.
    expect(encoded.length).toBeLessThan(events.length / 4)
    pieces.return?.()
    const lines = first.lines()
    expect(piece.toString()).toBe(lines.slice(0, piece.toString().split("\n").length - 1).map((line) => line.line).join(""))
    const rest = [...chunks].flatMap((chunk) => chunk.lines())
    expect([...lines, ...rest].map((line) => line.event.id)).toEqual(events.map((event) => event.id))
    // Every event in order (the lines of a failed chunk are encoded again: a chunk keeps its events, not its text).
    expect([...new Set(encoded)]).toEqual(events.map((event) => event.id))
  })
})
