import { randomUUID } from "node:crypto"
import { type ExportEvent, type FlagValueEvent, decodeFeatBitRow } from "@featbit-export/core"
import { flagPool, generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type MongoWireServer, startMongoWireServer } from "@featbit-export/testkit"
import { UUID } from "mongodb"
import { castValue, evaluationServerCatalogue, makeEnricher, mongoCatalogue, openApiCatalogue, postgresCatalogue } from "../src/index.js"
import { evaluationServer, featbitDatabase, openApi } from "./support.js"

const envA = randomUUID()
const envB = randomUUID()
const flagEvent = (envId: string, flagKey: string, variationId: string): FlagValueEvent => ({
  event: "FlagValue",
  id: randomUUID(),
  envId,
  distinctId: `${envId}-${flagKey}`,
  timestamp: "2026-12-01T10:00:00.000000Z" as FlagValueEvent["timestamp"],
  user: { keyId: "u-1", name: "Ann" },
  route: "/Variation/GetMultiOptionVariation",
  accountId: "",
  projectId: "",
  tags: {},
  properties: {},
  flagId: `${envId}-${flagKey}`,
  flagKey,
  variationId,
  sendToExperiment: true
})
const run = <A, E>(effect: Effect.Effect<A, E, never>) => Effect.runPromise(effect)
const scoped = <A, E>(effect: Effect.Effect<A, E, import("effect/Scope").Scope>) => Effect.runPromise(Effect.scoped(effect))

describe("castValue: FeatBit stores every value as JSON text, typed by the flag", () => {
  it.each([
    ["boolean", "true", true],
    ["boolean", "false", false],
    ["number", "10.5", 10.5],
    ["number", "", ""],
    ["json", '{"a":[1,2]}', { a: [1, 2] }],
    ["json", "{not json", "{not json"],
    ["string", "blue", "blue"]
  ])("%s %j", (type, text, value) => expect(castValue(type, text)).toEqual(value))
})

describe("flags from FeatBit's PostgreSQL (feature_flags, variations jsonb)", () => {
  let db: Awaited<ReturnType<typeof featbitDatabase>>
  beforeAll(async () => {
    db = await featbitDatabase()
    // A flag cloned into another environment keeps its variation ids: the lookup must be by environment.
    await db.insert({ envId: envA, key: "checkout-v2", name: "Checkout v2", variationType: "boolean", variations: [{ id: "v-on", name: "On", value: "true" }, { id: "v-off", name: "Off", value: "false" }] })
    await db.insert({ envId: envB, key: "checkout-v2", name: "Checkout v2 (staging)", variationType: "string", variations: [{ id: "v-on", name: "Blue", value: "blue" }] })
    // From before FeatBit had variation names (mid-2023): the value names the variation.
    await db.insert({ envId: envA, key: "legacy-limit", name: "Legacy limit", variationType: "number", variations: [{ id: "v-10", value: "10" }] })
    await db.insert({ envId: envA, key: "theme", name: "Theme", variationType: "json", variations: [{ id: "v-dark", name: "Dark", value: '{"mode":"dark"}' }], archived: true })
  })
  afterAll(async () => db.drop())

  it("adds the flag's name and the variation's typed value and name, by environment, flag key and variation id", async () => {
    const events = [flagEvent(envA, "checkout-v2", "v-on"), flagEvent(envB, "checkout-v2", "v-on"), flagEvent(envA, "legacy-limit", "v-10"), flagEvent(envA, "theme", "v-dark")]
    const out = await scoped(
      Effect.flatMap(postgresCatalogue({ url: Redacted.make(db.url), schema: "public" }), (reader) => makeEnricher(reader, { refresh: "1 minute", required: true }).enrich(events))
    )
    expect(out.map((e) => [(e as FlagValueEvent).flagName, (e as FlagValueEvent).variationName, (e as FlagValueEvent).variationValue])).toEqual([
      ["Checkout v2", "On", true],
      ["Checkout v2 (staging)", "Blue", "blue"],
      ["Legacy limit", "10", 10],
      // Archived flags are still evaluated by server SDKs: they stay in the catalogue.
      ["Theme", "Dark", { mode: "dark" }]
    ])
  })

  it("reads an environment again for an unknown variation, at most once per refresh per flag, and exports what stays unknown", async () => {
    let clock = 1_000_000
    await scoped(
      Effect.gen(function* () {
        const reader = yield* postgresCatalogue({ url: Redacted.make(db.url), schema: "public" })
        const e = makeEnricher(reader, { refresh: "1 minute", required: true, now: () => clock })
        yield* e.enrich([flagEvent(envA, "checkout-v2", "v-on")])
        expect(e.counts.reads).toBe(1)
        // A flag created after the first read: its first event reads the environment again and finds it.
        yield* Effect.promise(() => db.insert({ envId: envA, key: "new-flag", name: "New", variationType: "string", variations: [{ id: "v-new", name: "New one", value: "x" }] }))
        clock += 1_000
        const [found] = yield* e.enrich([flagEvent(envA, "new-flag", "v-new")])
        expect(e.counts.reads).toBe(2)
        expect((found as FlagValueEvent).variationName).toBe("New one")
        // A deleted flag's events: one more read, then none until the refresh is due; they go out unenriched.
        const deleted = Array.from({ length: 500 }, () => flagEvent(envA, "deleted-flag", "v-gone"))
        const out = yield* e.enrich(deleted)
        yield* e.enrich(deleted.slice(0, 10))
        expect(e.counts.reads).toBe(3)
        expect(out).toHaveLength(500)
        expect((out[0] as FlagValueEvent).variationValue).toBeUndefined()
        expect(e.counts.unknown).toBe(510)
        // The refresh is due: the environment is read again.
        clock += 60_000
        yield* e.enrich([flagEvent(envA, "checkout-v2", "v-off")])
        expect(e.counts.reads).toBe(4)
      })
    )
  })

  it("a variation edited under the same id while the pipeline runs: the new value within one refresh", async () => {
    let clock = 5_000_000
    await scoped(
      Effect.gen(function* () {
        const e = makeEnricher(yield* postgresCatalogue({ url: Redacted.make(db.url), schema: "public" }), { refresh: "1 minute", required: true, now: () => clock })
        yield* Effect.promise(() => db.insert({ envId: envA, key: "button-color", name: "Button color", variationType: "string", variations: [{ id: "v-1", name: "Primary", value: "blue" }] }))
        const first = yield* e.enrich([flagEvent(envA, "button-color", "v-1")])
        expect(first[0]).toMatchObject({ variationName: "Primary", variationValue: "blue" })
        yield* Effect.promise(() =>
          db.pool.query(`UPDATE feature_flags SET variations = $1, updated_at = now() WHERE key = 'button-color'`, [JSON.stringify([{ id: "v-1", name: "Primary", value: "green" }])])
        )
        // Before the refresh is due the cached value stands (the id is known: no early read).
        clock += 30_000
        expect((yield* e.enrich([flagEvent(envA, "button-color", "v-1")]))[0]).toMatchObject({ variationValue: "blue" })
        clock += 30_000
        expect((yield* e.enrich([flagEvent(envA, "button-color", "v-1")]))[0]).toMatchObject({ variationValue: "green" })
      })
    )
  })

  it("enriches a production-shaped page: thousands of users, every generated flag known, metrics untouched", async () => {
    const events = [...generateRows({ count: 5_000, seed: 9, users: 50_000, envIds: [envB] })].map((row) => Either.getOrThrow(decodeFeatBitRow(row)))
    const pool = flagPool()
    for (const flag of pool.slice(0, 20)) {
      await db.insert({ envId: envB, key: flag.key, name: `Flag ${flag.key}`, variationType: "string", variations: flag.variationIds.map((id, i) => ({ id, name: `V${i}`, value: `value-${i}` })) })
    }
    const out = await scoped(
      Effect.gen(function* () {
        const enricher = makeEnricher(yield* postgresCatalogue({ url: Redacted.make(db.url), schema: "public" }), { refresh: "1 minute", required: true })
        return { o: yield* enricher.enrich(events), counts: enricher.counts }
      })
    )
    const flags = out.o.filter((e): e is FlagValueEvent => e.event === "FlagValue")
    const known = new Set(pool.slice(0, 20).map((f) => f.key))
    const expected = flags.filter((e) => known.has(e.flagKey))
    expect(expected.length).toBeGreaterThan(500)
    for (const event of expected) expect(event.variationValue).toMatch(/^value-\d+$/)
    expect(out.counts.unknown).toBe(flags.length - expected.length)
    const metrics = out.o.filter((e: ExportEvent) => e.event !== "FlagValue")
    expect(metrics.every((e) => !("variationValue" in e) && !("flagName" in e))).toBe(true)
  })

  it("a database that is not there is fatal, in one sentence, without the url's password", async () => {
    const url = db.url.replace("postgres@", "postgres:sekrit-canary-password@").replace(/\/fbx_flags_\w+$/, "/no_such_db_for_flags")
    const error = await scoped(Effect.flip(Effect.flatMap(postgresCatalogue({ url: Redacted.make(url), schema: "public" }), (reader) => reader.read(envA))))
    expect(error.retryable).toBe(false)
    expect(error.plugin).toBe("enrich.flags")
    expect(error.message).toMatch(/^FeatBit's flags: /)
    expect(error.message).not.toContain("sekrit-canary-password")
  })
})

describe("flags from FeatBit's evaluation server (latest-all with the server secret)", () => {
  const secretA = "server-secret-of-env-a-0123456789abcdefghij"
  const flags = [{ id: randomUUID(), envId: envA, key: "checkout-v2", name: "Checkout v2", variationType: "boolean", variations: [{ id: "v-on", name: "On", value: "true" }], isArchived: false }]

  it("enriches with the environment's flags, sending the raw secret", async () => {
    const server = await evaluationServer(new Map([[secretA, flags]]))
    try {
      const enricher = makeEnricher(evaluationServerCatalogue({ url: server.url, secrets: { [envA]: Redacted.make(secretA) } }), { refresh: "1 minute", required: true })
      const [event] = await run(enricher.enrich([flagEvent(envA, "checkout-v2", "v-on")]))
      expect(event).toMatchObject({ flagName: "Checkout v2", variationName: "On", variationValue: true })
      expect(server.requests).toEqual([{ path: "/api/public/sdk/server/latest-all?timestamp=0", authorization: secretA }])
    } finally {
      await server.stop()
    }
  })

  it("an unreachable or failing server is transient; a refused secret is fatal and names the key to fix, without the secret", async () => {
    const server = await evaluationServer(new Map([[secretA, flags]]))
    try {
      server.fault(503)
      const reader = evaluationServerCatalogue({ url: server.url, secrets: { [envA]: Redacted.make(secretA), [envB]: Redacted.make("wrong-secret-for-env-b-0123456789abcdef") } })
      const busy = await run(Effect.flip(reader.read(envA)))
      expect(busy.retryable).toBe(true)
      const refused = await run(Effect.flip(reader.read(envB)))
      expect(refused.retryable).toBe(false)
      expect(refused.message).toBe(`FeatBit's evaluation server at ${server.url}: refused the server secret of environment ${envB} (HTTP 401); set enrich.flags.secrets.${envB} to that environment's server secret`)
      const gone = await run(Effect.flip(evaluationServerCatalogue({ url: "http://127.0.0.1:1", secrets: { [envA]: Redacted.make(secretA) } }).read(envA)))
      expect(gone.retryable).toBe(true)
    } finally {
      await server.stop()
    }
  })

  it("with required: false, an unreachable catalogue lets events go out without the values", async () => {
    const enricher = makeEnricher(evaluationServerCatalogue({ url: "http://127.0.0.1:1", secrets: { [envA]: Redacted.make(secretA) } }), { refresh: "1 minute", required: false })
    const out = await run(enricher.enrich([flagEvent(envA, "checkout-v2", "v-on")]))
    expect(out).toHaveLength(1)
    expect((out[0] as FlagValueEvent).variationValue).toBeUndefined()
    expect(enricher.counts.unknown).toBe(1)
  })
})

describe("flags from FeatBit's Open API (an access token, paged, archived flags in a pass of their own)", () => {
  const token = "api-MzQ0ZmFrZS1hY2Nlc3MtdG9rZW4tZm9yLXRlc3Rz"
  it("reads every page of live and archived flags", async () => {
    const flags = Array.from({ length: 230 }, (_, i) => ({
      key: `flag-${String(i).padStart(3, "0")}`,
      name: `Flag ${i}`,
      variationType: "number",
      variations: [{ id: `v-${i}`, name: `V${i}`, value: String(i) }],
      isArchived: i % 10 === 0
    }))
    const server = await openApi(token, new Map([[envA, flags]]))
    try {
      const enricher = makeEnricher(openApiCatalogue({ url: server.url, token: Redacted.make(token) }), { refresh: "1 minute", required: true })
      const out = await run(enricher.enrich([flagEvent(envA, "flag-229", "v-229"), flagEvent(envA, "flag-120", "v-120"), flagEvent(envA, "flag-005", "v-5")]))
      expect(out.map((e) => (e as FlagValueEvent).variationValue)).toEqual([229, 120, 5])
      expect(enricher.counts).toMatchObject({ enriched: 3, unknown: 0, reads: 1 })
      // 207 live flags: three pages of 100; 23 archived: one page.
      expect(server.requests.filter((r) => r.includes("isArchived=false"))).toHaveLength(3)
      expect(server.requests.filter((r) => r.includes("isArchived=true"))).toHaveLength(1)
      const refused = await run(Effect.flip(openApiCatalogue({ url: server.url, token: Redacted.make("api-not-the-token-0123456789") }).read(envA)))
      expect(refused.retryable).toBe(false)
      expect(refused.message).toContain("refused the access token (HTTP 401)")
      expect(refused.message).not.toContain("api-not-the-token")
    } finally {
      await server.stop()
    }
  })
})

describe("flags from FeatBit's MongoDB (FeatureFlags, envId a UUID, through the real driver)", () => {
  let server: MongoWireServer
  const flagDoc = (envId: string, key: string, name: string, variationType: string, variations: ReadonlyArray<{ id: string; name?: string; value: string }>, updatedAt = new Date()) => ({
    _id: new UUID(),
    envId: new UUID(envId),
    key,
    name,
    variationType,
    variations,
    isArchived: false,
    createdAt: updatedAt,
    updatedAt
  })
  beforeAll(async () => {
    server = await startMongoWireServer({ maxBatchSize: 50 })
    server.insert("featbit", "FeatureFlags", [
      flagDoc(envA, "checkout-v2", "Checkout v2", "boolean", [{ id: "v-on", name: "On", value: "true" }, { id: "v-off", name: "Off", value: "false" }]),
      flagDoc(envB, "checkout-v2", "Checkout v2 (staging)", "string", [{ id: "v-on", name: "Blue", value: "blue" }]),
      flagDoc(envA, "legacy-limit", "Legacy limit", "number", [{ id: "v-10", value: "10" }]),
      flagDoc(envA, "theme", "Theme (old copy)", "json", [{ id: "v-dark", name: "Dark", value: '{"mode":"light"}' }], new Date(Date.now() - 86_400_000)),
      flagDoc(envA, "theme", "Theme", "json", [{ id: "v-dark", name: "Dark", value: '{"mode":"dark"}' }]),
      // Enough flags that the driver has to getMore its way through them.
      ...Array.from({ length: 120 }, (_, i) => flagDoc(envA, `many-${i}`, `Many ${i}`, "number", [{ id: `m-${i}`, name: `M${i}`, value: String(i) }]))
    ])
  })
  afterAll(async () => server.close())

  it("adds names and typed values by environment, flag key and variation id; the newest document of a key wins", async () => {
    const events = [flagEvent(envA, "checkout-v2", "v-off"), flagEvent(envB, "checkout-v2", "v-on"), flagEvent(envA, "legacy-limit", "v-10"), flagEvent(envA, "theme", "v-dark"), flagEvent(envA, "many-119", "m-119"), flagEvent(envA, "gone", "v-x")]
    const out = await scoped(
      Effect.flatMap(mongoCatalogue({ url: Redacted.make(server.url), database: "featbit", collection: "FeatureFlags" }), (reader) => makeEnricher(reader, { refresh: "1 minute", required: true }).enrich(events))
    )
    expect(out.map((e) => [(e as FlagValueEvent).flagName, (e as FlagValueEvent).variationName, (e as FlagValueEvent).variationValue])).toEqual([
      ["Checkout v2", "Off", false],
      ["Checkout v2 (staging)", "Blue", "blue"],
      ["Legacy limit", "10", 10],
      ["Theme", "Dark", { mode: "dark" }],
      ["Many 119", "M119", 119],
      [undefined, undefined, undefined]
    ])
    const finds = server.commands.filter((c) => c.name === "find" && c.body["find"] === "FeatureFlags")
    // Each environment read once: an unknown flag of an environment read for this very page is not looked up again.
    expect(finds).toHaveLength(2)
    expect(finds.every((c) => c.db === "featbit")).toBe(true)
  })

  it("a server that is down is transient; refused credentials are fatal, without the password", async () => {
    const locked = await startMongoWireServer({ rejectAuth: true })
    try {
      const url = locked.urlWith({ user: "reader", password: "canary-mongo-pass-42" })
      const refused = await scoped(Effect.flip(Effect.flatMap(mongoCatalogue({ url: Redacted.make(url), database: "featbit", collection: "FeatureFlags" }), (reader) => reader.read(envA))))
      expect(refused.retryable).toBe(false)
      expect(refused.plugin).toBe("enrich.flags")
      expect(refused.message).toMatch(/^FeatBit's flags: .*refused the credentials/)
      expect(refused.message).not.toContain("canary-mongo-pass-42")
      await locked.stop()
      const down = await scoped(Effect.flip(Effect.flatMap(mongoCatalogue({ url: Redacted.make(locked.url), database: "featbit", collection: "FeatureFlags" }), (reader) => reader.read(envA))))
      expect(down.retryable).toBe(true)
    } finally {
      await locked.close()
    }
  })
})
