import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { chunkBySize } from "../src/Chunks.js"
import { COLUMN_NAMES, EVENT_COLUMNS, columnRenameIssues, eventRow, planColumns } from "../src/EventColumns.js"
import { decodeFeatBitRow } from "../src/FeatBitRow.js"
import { ByteSizeSetting } from "../src/Settings.js"
import type { Timestamp } from "../src/Timestamp.js"

const envId = "32f6be54-6796-44dd-bc82-f4824b0da13c"
const flagValue = decodeFeatBitRow({
  id: "4be3e7b9-3db7-4537-8e46-b2831f579bcf",
  distinctId: `${envId}-checkout`,
  envId,
  event: "FlagValue",
  properties: JSON.stringify({
    route: "/Variation/GetMultiOptionVariation",
    flagId: `${envId}-checkout`,
    envId,
    accountId: "acc",
    projectId: "proj",
    featureFlagKey: "checkout",
    sendToExperiment: true,
    userKeyId: "u-6973",
    userName: "tester",
    variationId: "v-1",
    tag_0: "u-6973"
  }),
  timestamp: "2026-12-02T07:42:13.320123Z" as Timestamp
})
const metric = decodeFeatBitRow({
  id: "0b6c1f0e-6a43-4b8e-9a55-2f7d1c9e4a11",
  distinctId: "checkout-completed",
  envId,
  event: "CustomEvent",
  properties: JSON.stringify({ route: "index/metric", type: "CustomEvent", eventName: "checkout-completed", numericValue: 12.5, user: { keyId: "u-1", name: "n" }, applicationType: "js", projectId: "", envId, accountId: "" }),
  timestamp: "2026-12-02T07:45:01.123000Z" as Timestamp
})

const eventOf = <A>(result: Either.Either<A, unknown>): A => {
  if (Either.isLeft(result)) throw new Error("expected the row to decode")
  return result.right
}

describe("eventRow", () => {
  it("gives every column of an evaluation, nulls for a metric's own, and the mapped fields instead of FeatBit's", () => {
    const row = eventRow(eventOf(flagValue))
    expect(Object.keys(row)).toEqual([...COLUMN_NAMES])
    expect(row).toMatchObject({ id: "4be3e7b9-3db7-4537-8e46-b2831f579bcf", timestamp: "2026-12-02T07:42:13.320123Z", flag_key: "checkout", variation_id: "v-1", send_to_experiment: true, user_key: "u-6973", event_name: null, numeric_value: null })
    const mapped = eventRow(eventOf(flagValue), { user_key: "mapped", properties: { plan: "pro" }, tags: "not a map" })
    expect(mapped.user_key).toBe("mapped")
    expect(mapped.properties).toEqual({ plan: "pro" })
    // A mapped value of the wrong type counts as not mapped.
    expect(mapped.tags).toEqual(row.tags)
    const m = eventRow(eventOf(metric))
    expect(m).toMatchObject({ event_name: "checkout-completed", numeric_value: 12.5, application_type: "js", flag_key: null, send_to_experiment: null })
    // The non-nullable columns are never null, for either kind.
    for (const r of [row, m]) for (const column of EVENT_COLUMNS.filter((c) => !c.nullable)) expect(r[column.name], column.name).not.toBeNull()
  })
})

describe("column renames", () => {
  it("renames and leaves out columns, refusing to drop id or timestamp and two columns on one name", () => {
    const plan = planColumns({ id: "event_id", tags: false })
    expect(plan.columns.find((c) => c.column.name === "id")?.target).toBe("event_id")
    expect(plan.columns.some((c) => c.column.name === "tags")).toBe(false)
    expect(plan.columns.length).toBe(COLUMN_NAMES.length - 1)
    expect(columnRenameIssues({ id: "event_id", tags: false })).toEqual([])
    const issues = columnRenameIssues({ timestamp: false, user_key: "distinct_id" })
    expect(issues.map((i) => i.path)).toEqual([["columns", "timestamp"], ["columns", "user_key"]])
    expect(issues[1]!.message).toMatch(/both write the column "distinct_id"/)
  })
})

describe("ByteSizeSetting and chunkBySize", () => {
  const bytes = (input: unknown) => Schema.decodeUnknownEither(ByteSizeSetting)(input)
  it("reads bytes and units, and refuses what is not a size with how to write one", () => {
    expect(bytes(1000)).toEqual(Either.right(1000))
    expect(bytes("512KiB")).toEqual(Either.right(512 * 1024))
    expect(bytes("16MB")).toEqual(Either.right(16_000_000))
    expect(bytes("1.5 GiB")).toEqual(Either.right(1.5 * 1024 ** 3))
    for (const bad of [0, -1, 1.5, "12 parsecs", "", "MiB"]) {
      const result = bytes(bad)
      expect(Either.isLeft(result), String(bad)).toBe(true)
      expect(Either.isLeft(result) && String(result.left.message)).toMatch(/e\.g\. 512KiB/)
    }
  })
  it("cuts runs of at most maxBytes in order, an oversized item alone", () => {
    expect(chunkBySize([3, 3, 3, 10, 1, 1], (n) => n, 6)).toEqual([[3, 3], [3], [10], [1, 1]])
    expect(chunkBySize([], (n: number) => n, 6)).toEqual([])
  })
})
