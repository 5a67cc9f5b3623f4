import { PostgresSink, copyLine } from "@featbit-export/sink-postgres"
import { planColumns } from "@featbit-export/core"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { sampleEvents } from "./support.js"

describe("what preview shows", () => {
  it("is the row under the table's column names, with the file's map: applied and left-out columns gone", () => {
    const config = Schema.decodeUnknownSync(PostgresSink.config)({ columns: { id: "event_id", tags: false } })
    const render = PostgresSink.render!(config)
    const [event] = sampleEvents(1, 61)
    const row = render(event!, { user_key: "mapped-key" }) as Record<string, unknown>
    expect(row["event_id"]).toBe(event!.id)
    expect(row["user_key"]).toBe("mapped-key")
    expect("tags" in row || "id" in row).toBe(false)
    expect(row["timestamp"]).toBe(event!.timestamp)
    // The COPY line has the same columns, in the same order, as the row preview shows.
    const line = copyLine(planColumns(config.columns), event!, { user_key: "mapped-key" }).line
    expect(line.endsWith("\n")).toBe(true)
    expect(line.split("\t").length).toBe(Object.keys(row).length)
    expect(line.split("\t")[Object.keys(row).indexOf("user_key")]).toBe("mapped-key")
  })
})
