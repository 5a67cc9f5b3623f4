import * as Duration from "effect/Duration"
import { describe, expect, it } from "vitest"
import { passBounds } from "../src/Horizon.js"
import { compareSelection } from "../src/Selection.js"
import { resolveSourceFilters, sourceFilterIssues } from "../src/SourceFilters.js"
import * as Timestamp from "../src/Timestamp.js"

const base = { source: "postgres", table: "featbit.public.events", envIds: ["env-a", "env-b"], events: null, startAt: null, endAt: null }

describe("the selection a checkpoint remembers", () => {
  it("is the same whatever the order of a set", () => {
    expect(compareSelection(base, { ...base, envIds: ["env-b", "env-a"] })).toEqual({ _tag: "Same" })
  })

  it("accepts a narrower set and a moved endAt, saying so", () => {
    const verdict = compareSelection(base, { ...base, envIds: ["env-a"], endAt: "2025-02-01T00:00:00.000000Z" })
    expect(verdict._tag).toBe("Accepted")
    if (verdict._tag !== "Accepted") return
    expect(verdict.notes).toEqual([
      "envIds narrowed from [env-a, env-b] to [env-a]: rows outside it after the cursor are no longer exported",
      "endAt changed from everything to 2025-02-01T00:00:00.000000Z"
    ])
  })

  it("refuses a wider set, naming what it adds, and any other change", () => {
    const wider = compareSelection(base, { ...base, envIds: ["env-a", "env-b", "env-c"] })
    expect(wider).toEqual({ _tag: "Refused", changes: ["envIds changed from [env-a, env-b] to [env-a, env-b, env-c], which adds env-c"] })
    const all = compareSelection({ ...base, events: ["FlagValue"] }, base)
    expect(all).toEqual({ _tag: "Refused", changes: ["events changed from [FlagValue] to everything, which adds everything else"] })
    const moved = compareSelection(base, { ...base, table: "featbit.public.events_copy", startAt: "2024-01-01T00:00:00.000000Z" })
    expect(moved._tag === "Refused" ? moved.changes : []).toEqual([
      "table changed from featbit.public.events to featbit.public.events_copy",
      "startAt changed from everything to 2024-01-01T00:00:00.000000Z"
    ])
  })
})

describe("the shared source filters", () => {
  it("reads envId as a one-environment envIds", () => {
    const config = { envId: "env-a", lag: Duration.seconds(30), lateWindow: Duration.hours(1) }
    expect(resolveSourceFilters(config).envIds).toEqual(["env-a"])
    expect(resolveSourceFilters({ ...config, envId: undefined, envIds: ["x", "y"] }).envIds).toEqual(["x", "y"])
  })

  it("names the key to fix when envId and envIds are both given, or the window selects nothing", () => {
    expect(sourceFilterIssues({ envId: "a", envIds: ["b"] })).toEqual([
      { path: ["envId"], message: "envId and envIds are both given; keep one (envId: <id> is a shorthand for envIds: [<id>])" }
    ])
    const t = Timestamp.parse("2025-01-01T00:00:00Z")!
    expect(sourceFilterIssues({ startAt: t, endAt: t }).map((issue) => issue.path)).toEqual([["endAt"]])
    expect(sourceFilterIssues({ startAt: t })).toEqual([])
  })
})

describe("the horizon of a pass", () => {
  const now = Timestamp.parse("2025-06-01T12:00:00.250000Z")!

  it("is the store's clock minus lag, and the pass ends just after it", () => {
    const bounds = passBounds(now, { lag: Duration.seconds(30) })
    expect(bounds.horizon).toBe("2025-06-01T11:59:30.250000Z")
    expect(bounds.before).toBe("2025-06-01T11:59:30.250001Z")
  })

  it("stops at endAt when that comes first, and lag 0 reads up to the clock", () => {
    const endAt = Timestamp.parse("2025-06-01T00:00:00Z")!
    expect(passBounds(now, { lag: Duration.seconds(30), endAt }).before).toBe(endAt)
    expect(passBounds(now, { lag: Duration.zero }).horizon).toBe(now)
  })
})
