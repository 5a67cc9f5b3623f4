import { Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { closeEngine, engine, engineFolder, freshDatabase, openSink } from "./support.js"

afterAll(() => closeEngine())

const readme = fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "README.md"), "utf8")
const blocks = [...readme.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!)

describe("the README's queries", () => {
  it("run on a table the sink wrote, and agree with the events", async () => {
    const database = await freshDatabase()
    const events = [...generateRows({ count: 5_000, seed: 9, start: Timestamp.fromMillis(Date.now() - 86_400_000) })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))
    await Effect.runPromise(Effect.scoped(Effect.flatMap(openSink({ url: `chdb:${engineFolder()}`, database }), (sink) => sink.write({ events, sequence: 0 }))))
    const flags = events.flatMap((e) => (e.event === "FlagValue" && e.sendToExperiment ? [e] : []))
    const flag = flags[0]!
    const env = flag.envId
    const run = async (sql: string, params: Record<string, string>) =>
      (await (await engine().query({ query: `USE ${database};\n` + sql.trim().replace(/;\s*$/, ""), query_params: params, format: "JSONEachRow" })).json()) as Array<Record<string, unknown>>
    const exposures = blocks.find((b) => b.includes("Exposures") || b.includes("uniqExact(user_key) AS users"))!
    const rows = await run(exposures, { env })
    const users = new Set(events.filter((e) => e.event === "FlagValue" && e.envId === env && e.flagKey === flag.flagKey && e.variationId === flag.variationId).map((e) => e.user.keyId)).size
    const row = rows.find((r) => r["flag_key"] === flag.flagKey && r["variation_id"] === flag.variationId)
    expect(Number(row?.["users"])).toBe(users)
    const metric = events.find((e) => e.event === "CustomEvent" && e.envId === env)!
    const conversion = blocks.find((b) => b.includes("conversions AS"))!
    const result = await run(conversion, { env, flag: flag.flagKey, metric: metric.event === "FlagValue" ? "" : metric.eventName })
    expect(result.length).toBeGreaterThan(0)
    expect(result.reduce((n, r) => n + Number(r["exposed"]), 0)).toBe(new Set(flags.filter((e) => e.envId === env && e.flagKey === flag.flagKey).map((e) => e.user.keyId)).size)
  })
})
