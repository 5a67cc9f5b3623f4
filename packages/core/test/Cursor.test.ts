import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as Cursor from "../src/Cursor.js"
import type { Timestamp } from "../src/Timestamp.js"

const t = (text: string) => text as Timestamp
const early = t("2023-12-12T07:42:13.320000Z")
const late = t("2023-12-12T07:42:13.320001Z")
const idA = "0b6c1f0e-6a43-4b8e-9a55-2f7d1c9e4a11"
const idB = "4be3e7b9-3db7-4537-8e46-b2831f579bcf"
const idC = "f0000000-0000-4000-8000-000000000000"

describe("Cursor.compare", () => {
  it("orders by timestamp first, whatever the ids", () => {
    expect(Cursor.compare({ timestamp: early, id: idC }, { timestamp: late, id: idA })).toBeLessThan(0)
    expect(Cursor.compare({ timestamp: late, id: idA }, { timestamp: early, id: idC })).toBeGreaterThan(0)
  })

  it("orders equal timestamps by id", () => {
    expect(Cursor.compare({ timestamp: early, id: idA }, { timestamp: early, id: idB })).toBeLessThan(0)
    expect(Cursor.compare({ timestamp: early, id: idB }, { timestamp: early, id: idA })).toBeGreaterThan(0)
  })

  it("is zero only for the same position", () => {
    expect(Cursor.compare({ timestamp: early, id: idA }, { timestamp: early, id: idA })).toBe(0)
  })

  it("sorts a page of rows sharing one millisecond into keyset order", () => {
    const rows = [
      { timestamp: late, id: idA },
      { timestamp: early, id: idC },
      { timestamp: early, id: idA },
      { timestamp: late, id: idB },
      { timestamp: early, id: idB }
    ]
    expect([...rows].sort(Cursor.compare)).toEqual([
      { timestamp: early, id: idA },
      { timestamp: early, id: idB },
      { timestamp: early, id: idC },
      { timestamp: late, id: idA },
      { timestamp: late, id: idB }
    ])
  })

  it("ignores the column annotation", () => {
    expect(
      Cursor.compare({ timestamp: early, id: idA, column: "_timestamp" } as Cursor.Cursor, { timestamp: early, id: idA })
    ).toBe(0)
  })
})

describe("Cursor.isAfter", () => {
  const cursor: Cursor.Cursor = { timestamp: early, id: idB }

  it("everything is after the beginning", () => {
    expect(Cursor.isAfter({ timestamp: early, id: idA }, undefined)).toBe(true)
  })

  it("the event the cursor points at is not after it (already delivered)", () => {
    expect(Cursor.isAfter({ timestamp: early, id: idB }, cursor)).toBe(false)
  })

  it("an event with the same timestamp and a greater id is after it (not skipped at a page boundary)", () => {
    expect(Cursor.isAfter({ timestamp: early, id: idC }, cursor)).toBe(true)
  })

  it("an event with the same timestamp and a smaller id is not after it", () => {
    expect(Cursor.isAfter({ timestamp: early, id: idA }, cursor)).toBe(false)
  })

  it("a later timestamp is after it whatever the id; an earlier one never is", () => {
    expect(Cursor.isAfter({ timestamp: late, id: idA }, cursor)).toBe(true)
    expect(Cursor.isAfter({ timestamp: t("2023-12-12T07:42:13.319999Z"), id: idC }, cursor)).toBe(false)
  })
})

describe("Cursor helpers", () => {
  it("of points at an event and round trips through the schema", () => {
    const cursor = Cursor.of({ timestamp: early, id: idA })
    expect(cursor).toEqual({ timestamp: early, id: idA })
    expect(Schema.decodeUnknownSync(Cursor.Cursor)(JSON.parse(JSON.stringify(cursor)))).toEqual(cursor)
  })

  it("the schema refuses a timestamp that is not canonical", () => {
    expect(Schema.is(Cursor.Cursor)({ timestamp: "2023-12-12 07:42:13.320000", id: idA })).toBe(false)
  })

  it("format names the beginning and a position", () => {
    expect(Cursor.format(undefined)).toMatch(/beginning/)
    expect(Cursor.format({ timestamp: early, id: idA })).toContain(early)
    expect(Cursor.format({ timestamp: early, id: idA })).toContain(idA)
  })
})
