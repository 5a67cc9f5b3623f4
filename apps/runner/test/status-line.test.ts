import { PipelineProgress, Timestamp } from "@featbit-export/core"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { progressRecord, statusLine } from "../src/Output.js"

// The line a person reads on a terminal, and the JSON record beside it, from one pipeline's live counters.
const start = Date.parse("2026-12-01T10:00:00.000Z")
const at = (seconds: number) => ({ timestamp: Timestamp.fromMillis(start + seconds * 1000), id: `id-${seconds}` })

describe("the progress line", () => {
  beforeEach(() => void vi.useFakeTimers({ now: start + 3_600_000 }))
  afterEach(() => void vi.useRealTimers())

  it("shows a bar, the percent and the ETA while catching up, by cursor time towards the horizon", () => {
    const p = new PipelineProgress("exposures")
    p.state = "reading"
    p.cursor = at(0)
    p.horizon = Timestamp.fromMillis(start + 3_000_000)
    p.storeTime = Timestamp.fromMillis(start + 3_030_000)
    vi.advanceTimersByTime(20_000)
    // A quarter of the span in 20 s of the run: 60 s left at that pace.
    p.cursor = at(750)
    p.exported = 123_456
    const line = statusLine(p, 6_172.8)
    expect(line).toBe("exposures: [#####---------------] 25.0%, ETA 1m 0s, 123,456 exported, 6,173/s, 0 dead-lettered, reading")
    expect(progressRecord(p, 6_172.8)).toMatchObject({ following: false, percent: 25, etaSeconds: 60, exported: 123_456, eventsPerSecond: 6_173 })
  })

  it("says how far behind it follows once a pass has finished, with late rows and restarts when there are some", () => {
    const p = new PipelineProgress("exposures")
    p.state = "waiting"
    p.cursor = at(2_990)
    p.horizon = Timestamp.fromMillis(start + 3_000_000)
    p.caughtUpTo = p.horizon
    p.storeTime = Timestamp.fromMillis(start + 3_012_000)
    p.late = 37
    p.restarts = 1
    expect(statusLine(p, 0)).toBe("exposures: following, 12s behind, 0 exported, 0/s, 0 dead-lettered, 37 late, 1 restarts, waiting")
    expect(progressRecord(p, 0)).toMatchObject({ following: true, percent: null, etaSeconds: null, secondsBehind: 12, late: 37 })
  })

  it("quotes the failure being retried, scrubbed before it is cut to 80 characters", () => {
    const p = new PipelineProgress("exposures")
    p.state = "reading"
    p.lastRetry = `segment: 503 from https://api.segment.io (write key sk_canary_4f9a) ${"x".repeat(100)}`
    const line = statusLine(p, 0, (text) => text.replaceAll("sk_canary_4f9a", "***"))
    expect(line).toContain("retrying (segment: 503 from https://api.segment.io (write key ***) xxx")
    expect(line).not.toContain("sk_canary_4f9a")
    const quoted = line.slice(line.indexOf("retrying (") + "retrying (".length, -1)
    expect(quoted).toHaveLength(80)
    expect(quoted.endsWith("…")).toBe(true)
  })
})
