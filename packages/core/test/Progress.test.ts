import { describe, expect, it } from "@effect/vitest"
import { PipelineProgress } from "../src/Progress.js"
import type { Timestamp } from "../src/Timestamp.js"

const at = (iso: string) => iso as Timestamp
const cursorAt = (iso: string) => ({ timestamp: at(iso), id: "00000000-0000-0000-0000-000000000000" })

describe("PipelineProgress", () => {
  it("measures catching up from the run's first cursor towards the horizon, until a pass finishes", () => {
    const p = new PipelineProgress("p")
    expect(p.catchingUp()).toBeUndefined()
    p.cursor = cursorAt("2024-01-01T00:00:00.000000Z")
    p.horizon = at("2024-01-01T10:00:00.000000Z")
    expect(p.catchingUp()?.fraction).toBe(0)
    // Nothing moved yet: no pace, so no ETA.
    expect(p.catchingUp()?.etaSeconds).toBeUndefined()
    p.cursor = cursorAt("2024-01-01T02:30:00.000000Z")
    expect(p.catchingUp()?.fraction).toBe(0.25)
    p.caughtUpTo = p.horizon
    expect(p.catchingUp()).toBeUndefined()
  })

  it("records when the state changed, and only when it did", async () => {
    const p = new PipelineProgress("p")
    p.state = "reading"
    const since = p.stateSince
    await new Promise((resolve) => setTimeout(resolve, 5))
    p.state = "reading"
    expect(p.stateSince).toBe(since)
    p.state = "waiting"
    expect(p.stateSince).toBeGreaterThan(since)
  })
})
