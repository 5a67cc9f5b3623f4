import { describe, expect, it } from "vitest"
import type { ExportEvent } from "../src/Event.js"
import { serializeEvents } from "../src/SerializedEvents.js"

// Only the id matters to serializeEvents; the payload's size is set by the id's `pad`.
const event = (id: string): ExportEvent => ({ id }) as ExportEvent
const body = (e: ExportEvent, pad: number) => JSON.stringify({ id: e.id, pad: "x".repeat(pad) })

describe("serializeEvents", () => {
  const sizes: Record<string, number> = { a: 0, b: 0, big: 200, c: 0, bad: 0, d: 0 }
  const events = Object.keys(sizes).map(event)
  const result = serializeEvents(events, {
    render: (e) => ({ json: body(e, sizes[e.id]!), mapped: `mapped-${e.id}` }),
    refuse: (e) => (e.id === "bad" ? "not a UUID" : undefined),
    tooLarge: (bytes, mapped) => `${bytes} bytes with ${mapped}`,
    maxEventBytes: 100,
    maxEventsPerRequest: 2,
    maxBytesPerRequest: 1_000,
    envelopeBytes: 10
  })

  it("refuses an event refused before rendering, and one over maxEventBytes with the size and what was mapped", () => {
    expect(result.rejected.map((r) => [r.event.id, r.reason])).toEqual([
      ["big", `${body(event("big"), 200).length} bytes with mapped-big`],
      ["bad", "not a UUID"]
    ])
  })

  it("packs the rest in order within the count limit, each with its JSON and UTF-8 byte length", () => {
    expect(result.groups.map((group) => group.map((item) => item.event.id))).toEqual([["a", "b"], ["c", "d"]])
    const first = result.groups[0]![0]!
    expect(first.json).toBe(body(event("a"), 0))
    expect(first.bytes).toBe(Buffer.byteLength(first.json))
  })

  it("counts bytes, not characters", () => {
    const packed = serializeEvents([event("é")], {
      render: (e) => ({ json: JSON.stringify(e.id.repeat(60)), mapped: undefined }),
      tooLarge: (bytes) => `${bytes}`,
      maxEventBytes: 100,
      maxEventsPerRequest: 10,
      maxBytesPerRequest: 1_000,
      envelopeBytes: 0
    })
    // 60 characters of 2 bytes each and two quotes: 122 bytes, over 100 though only 62 characters.
    expect(packed.rejected.map((r) => r.reason)).toEqual(["122"])
  })
})
