import type { ExportEvent } from "@featbit-export/core"
import { normalizePrefix, objectGroups } from "@featbit-export/object-storage"
import { describe, expect, it } from "vitest"
import { sampleEvents } from "./support.js"

describe("objectGroups", () => {
  it("puts each environment's events of each UTC date in one object, Hive-style, every event once", () => {
    // 30 hours of events from 30 hours ago: the batch crosses midnight UTC at least once.
    const events = sampleEvents(6_000, 81, 30).map((event, i) => ({ ...event, timestamp: new Date(Date.now() - 30 * 3_600_000 + i * 18_000).toISOString().replace("Z", "000Z") })) as Array<ExportEvent>
    const groups = objectGroups(events, { prefix: "featbit/events/", extension: "parquet" })
    const pairs = new Set(events.map((event) => `${event.envId} ${event.timestamp.slice(0, 10)}`))
    expect(groups.length).toBe(pairs.size)
    expect(new Set(groups.map((group) => group.date)).size).toBeGreaterThan(1)
    for (const group of groups) {
      expect(group.key).toMatch(new RegExp(`^featbit/events/env_id=${group.envId}/date=${group.date}/\\d{8}T\\d{12}Z-\\d{8}T\\d{12}Z-[0-9a-f]{16}\\.parquet$`))
      for (const event of group.events) expect([event.envId, event.timestamp.slice(0, 10)]).toEqual([group.envId, group.date])
    }
    expect(groups.flatMap((group) => group.events.map((event) => event.id)).sort()).toEqual(events.map((event) => event.id).sort())
  })

  it("names the same events the same however they are ordered, and other events otherwise", () => {
    const events = sampleEvents(2_000, 82).map((event) => ({ ...event, envId: "env-a" }))
    const keyOf = (batch: ReadonlyArray<ExportEvent>) => objectGroups(batch, { prefix: "", extension: "ndjson.gz" }).map((group) => group.key)
    const [key] = keyOf(events)
    expect(keyOf([...events].reverse())).toEqual([key])
    // One event fewer, same time range: another name, so no object is ever overwritten with other content.
    const fewer = [...events.slice(0, 500), ...events.slice(501)]
    expect(keyOf(fewer)[0]).not.toBe(key)
    expect(keyOf(fewer)[0]!.split("-").slice(0, 2)).toEqual(key!.split("-").slice(0, 2))
  })

  it("percent-encodes partition values and normalizes the prefix", () => {
    const [event] = sampleEvents(1, 83)
    const [group] = objectGroups([{ ...event!, envId: "a/b c" }], { prefix: "/landing//", extension: "parquet" })
    expect(group!.key.startsWith("landing/env_id=a%2Fb%20c/date=")).toBe(true)
    expect([normalizePrefix(""), normalizePrefix("/"), normalizePrefix("x/y")]).toEqual(["", "", "x/y/"])
  })
})
