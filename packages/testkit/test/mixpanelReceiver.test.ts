import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as zlib from "node:zlib"
import * as Effect from "effect/Effect"
import { afterEach, describe, expect, it } from "vitest"
import { mixpanelReceiver, startMixpanelReceiver, type MixpanelReceiver, type MixpanelReceiverOptions } from "../src/mixpanel/index.js"

// The receiver's clock: every `time` window below is relative to it.
const NOW = Date.UTC(2025, 5, 1, 12, 0, 0)
const TOKEN = "tok-0123456789abcdef"
const SECRET = "secret-fedcba9876543210"
const PROJECT = "3141592"
const ACCOUNT = { username: "svc-export.abc123.mp-service-account", secret: "sa-secret-xyz" }

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`
const TOKEN_AUTH = basic(TOKEN, "")

const insertId = (i: number) => `0190f0e2-8c4a-7cde-8f00-${String(i).padStart(12, "0")}`
const ev = (i: number, properties: Record<string, unknown> = {}) => ({
  event: "$experiment_started",
  properties: { time: NOW - 60_000 + i, distinct_id: `user-${i}`, $insert_id: insertId(i), "Experiment name": "new-ui", "Variant name": "v2", ...properties }
})

const started: Array<MixpanelReceiver> = []
const receiver = async (options: MixpanelReceiverOptions = {}) => {
  const r = await startMixpanelReceiver({ token: TOKEN, secret: SECRET, projectId: PROJECT, serviceAccounts: [ACCOUNT], now: () => NOW, ...options })
  started.push(r)
  return r
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((r) => r.stop()))
})

interface PostOptions {
  readonly query?: string
  readonly authorization?: string | undefined
  readonly headers?: Record<string, string>
  readonly signal?: AbortSignal
}
const post = (r: MixpanelReceiver, body: string | Buffer, options: PostOptions = {}) => {
  const headers: Record<string, string> = { "content-type": "application/json", ...options.headers }
  const authorization = "authorization" in options ? options.authorization : TOKEN_AUTH
  if (authorization !== undefined) headers["authorization"] = authorization
  return fetch(`${r.url}/import?${options.query ?? "strict=1"}`, { method: "POST", headers, body, signal: options.signal ?? null })
}
const postEvents = (r: MixpanelReceiver, events: ReadonlyArray<unknown>, options: PostOptions = {}) => post(r, JSON.stringify(events), options)
/** The status, or "failed" when the connection broke without an answer. */
const outcome = (response: Promise<Response>) => response.then((res) => res.status, (error: Error) => (error.name === "AbortError" ? "aborted" : "failed"))

describe("mixpanel receiver: import and validation", () => {
  it("stores a valid batch and answers the documented 200 body", async () => {
    const r = await receiver()
    const batch = [ev(1), ev(2), ev(3)]
    const res = await postEvents(r, batch)
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("application/json")
    expect(await res.text()).toBe('{"code":200,"num_records_imported":3,"status":"OK"}')
    expect(r.events).toEqual(batch)
    expect(r.insertIds()).toEqual([insertId(1), insertId(2), insertId(3)])
    expect(r.requests).toEqual([expect.objectContaining({ status: 200, count: 3, imported: 3, failed: 0, strict: true, format: "json", gzip: false, auth: "token" })])
  })

  it("strict=1: a 400 lists each invalid record by index and field, and imports the rest", async () => {
    const r = await receiver()
    const { event: _dropped, ...noName } = ev(1)
    const batch = [
      ev(0),
      noName,
      ev(2, { time: undefined }),
      ev(3, { time: Date.UTC(1970, 11, 31) }),
      ev(4, { time: NOW + 2 * 3600_000 }),
      ev(5, { distinct_id: "anonymous" }),
      ev(6, { $insert_id: "x".repeat(37) }),
      ev(7, { $insert_id: "has_underscore" }),
      ev(8, { time: Math.floor((NOW - 5_000) / 1000) }), // seconds: accepted
      ev(9, { distinct_id: undefined }),
      ev(10, { time: NOW + 30 * 60_000 }), // under an hour ahead: accepted
      "not an event",
      ev(12, { $insert_id: undefined }),
      ev(13, { distinct_id: "" }) // empty is allowed
    ]
    const res = await post(r, JSON.stringify(batch)) // JSON drops the `undefined` properties: they are missing
    expect(res.status).toBe(400)
    const body = (await res.json()) as Record<string, unknown>
    expect(Object.keys(body)).toEqual(["code", "error", "failed_records", "num_records_imported", "status"])
    expect(body).toMatchObject({ code: 400, error: "some data points in the request failed validation", num_records_imported: 4, status: "Bad Request" })
    const failed = body["failed_records"] as Array<Record<string, unknown>>
    expect(failed.map(({ index, $insert_id, field }) => ({ index, $insert_id, field }))).toEqual([
      { index: 1, $insert_id: insertId(1), field: "event" },
      { index: 2, $insert_id: insertId(2), field: "properties.time" },
      { index: 3, $insert_id: insertId(3), field: "properties.time" },
      { index: 4, $insert_id: insertId(4), field: "properties.time" },
      { index: 5, $insert_id: insertId(5), field: "properties.distinct_id" },
      { index: 6, $insert_id: "x".repeat(37), field: "properties.$insert_id" },
      { index: 7, $insert_id: "has_underscore", field: "properties.$insert_id" },
      { index: 9, $insert_id: insertId(9), field: "properties.distinct_id" },
      { index: 11, $insert_id: "", field: "record" },
      { index: 12, $insert_id: "", field: "properties.$insert_id" }
    ])
    for (const entry of failed) expect(entry["message"]).toEqual(expect.stringMatching(/\S/))
    expect(r.insertIds()).toEqual([insertId(0), insertId(8), insertId(10), insertId(13)])
    expect(r.received).toHaveLength(batch.length)
    expect(r.stats()).toMatchObject({ received: 14, imported: 4, failedRecords: 10, dropped: 0 })
  })

  it("strict=1: a 36-byte UUID insert id passes, a deny-listed one, a non-ASCII one and a 37-byte one do not", async () => {
    const r = await receiver()
    const batch = [ev(0), ev(1, { $insert_id: "null" }), ev(2, { $insert_id: "é".repeat(18) }), ev(3, { $insert_id: `${insertId(3)}0` }), ev(4, { $insert_id: "A-z-09" })]
    const res = await postEvents(r, batch)
    const body = (await res.json()) as { failed_records: Array<{ index: number; field: string }>; num_records_imported: number }
    expect(body.failed_records.map((f) => [f.index, f.field])).toEqual([
      [1, "properties.$insert_id"],
      [2, "properties.$insert_id"],
      [3, "properties.$insert_id"]
    ])
    expect(body.num_records_imported).toBe(2)
    expect(r.insertIds()).toEqual([insertId(0), "A-z-09"])
  })

  it("strict=1: the per-event limits (properties count, nesting, array length, 1 MiB) and 255-character strings", async () => {
    const r = await receiver()
    const props = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`p${i}`, i]))
    const nested = (depth: number): unknown => (depth === 0 ? 1 : { k: nested(depth - 1) })
    const batch = [
      ev(0, props(254 - 5)), // 5 own properties + 249 = 254: allowed
      ev(1, props(255 - 5)), // 255: refused
      ev(2, { deep: nested(3) }),
      ev(3, { deep: nested(4) }),
      ev(4, { list: Array.from({ length: 254 }, (_, i) => i) }),
      ev(5, { list: Array.from({ length: 255 }, (_, i) => i) }),
      ev(6, { blob: "b".repeat(1024 * 1024) }),
      ev(7, { long: "L".repeat(300) })
    ]
    const res = await postEvents(r, batch)
    expect(res.status).toBe(400)
    const body = (await res.json()) as { failed_records: Array<{ index: number; field: string }>; num_records_imported: number }
    expect(body.failed_records.map((f) => [f.index, f.field])).toEqual([
      [1, "properties"],
      [3, "properties.deep"],
      [5, "properties.list"],
      [6, "record"]
    ])
    expect(body.num_records_imported).toBe(4)
    expect(r.insertIds()).toEqual([insertId(0), insertId(2), insertId(4), insertId(7)])
    expect(r.events[3]!.properties["long"]).toBe("L".repeat(255))
    expect((r.received[7] as { properties: { long: string } }).properties.long).toHaveLength(300)
  })

  it("without strict=1: invalid records are dropped silently, with a 200 counting the imported ones", async () => {
    const r = await receiver()
    const batch = [ev(0), ev(1, { time: undefined }), ev(2, { distinct_id: "null" }), ev(3)]
    for (const query of ["", "strict=0"]) {
      const res = await postEvents(r, batch, { query })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ code: 200, num_records_imported: 2, status: "OK" })
    }
    expect(r.insertIds()).toEqual([insertId(0), insertId(3)])
    expect(r.stats()).toMatchObject({ dropped: 4, failedRecords: 0, imported: 4, unique: 2, duplicates: 2 })
    expect(r.requests.map((q) => q.strict)).toEqual([false, false])
  })

  it("defaultStrict: a request without strict is validated strictly", async () => {
    const r = await receiver({ defaultStrict: true })
    const res = await postEvents(r, [ev(0), ev(1, { time: undefined })], { query: "" })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { failed_records: Array<{ index: number }> }).failed_records.map((f) => f.index)).toEqual([1])
  })

  it("failedRecordInsertIdKey: the OpenAPI schema's insert_id key instead of the page's $insert_id", async () => {
    const r = await receiver({ failedRecordInsertIdKey: "insert_id" })
    const res = await postEvents(r, [ev(0, { time: undefined })])
    const body = (await res.json()) as { failed_records: Array<Record<string, unknown>> }
    expect(body.failed_records[0]).toEqual({ index: 0, insert_id: insertId(0), field: "properties.time", message: expect.any(String) })
  })

  it("a body that is not a JSON array of events is refused whole with 400", async () => {
    const r = await receiver()
    for (const body of ["{not json", JSON.stringify(ev(0))]) {
      const res = await post(r, body)
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ code: 400, status: "Bad Request", error: expect.any(String) })
    }
    expect(r.events).toEqual([])
  })
})

describe("mixpanel receiver: auth", () => {
  const cases: ReadonlyArray<{ name: string; authorization: string | undefined; query: string; status: number; auth?: string }> = [
    { name: "service account with project_id", authorization: basic(ACCOUNT.username, ACCOUNT.secret), query: `strict=1&project_id=${PROJECT}`, status: 200, auth: "serviceAccount" },
    { name: "service account without project_id", authorization: basic(ACCOUNT.username, ACCOUNT.secret), query: "strict=1", status: 401 },
    { name: "service account with another project_id", authorization: basic(ACCOUNT.username, ACCOUNT.secret), query: "strict=1&project_id=999", status: 401 },
    { name: "service account with a wrong secret", authorization: basic(ACCOUNT.username, "wrong"), query: `strict=1&project_id=${PROJECT}`, status: 401 },
    { name: "token, empty password, no project_id", authorization: basic(TOKEN, ""), query: "strict=1", status: 200, auth: "token" },
    { name: "token, empty password, its project_id", authorization: basic(TOKEN, ""), query: `strict=1&project_id=${PROJECT}`, status: 200, auth: "token" },
    { name: "token with another project_id", authorization: basic(TOKEN, ""), query: "strict=1&project_id=999", status: 401 },
    { name: "token with a password", authorization: basic(TOKEN, "x"), query: "strict=1", status: 401 },
    { name: "project secret, empty password", authorization: basic(SECRET, ""), query: "strict=1", status: 200, auth: "secret" },
    { name: "an unknown username", authorization: basic("someone-else", ""), query: "strict=1", status: 401 },
    { name: "no Authorization", authorization: undefined, query: "strict=1", status: 401 },
    { name: "a bearer token", authorization: `Bearer ${TOKEN}`, query: "strict=1", status: 401 },
    { name: "api_key in the query on a JSON body", authorization: undefined, query: `strict=1&api_key=${SECRET}`, status: 401 }
  ]
  for (const c of cases) {
    it(`${c.name}: ${c.status}`, async () => {
      const r = await receiver()
      const res = await postEvents(r, [ev(0)], { authorization: c.authorization, query: c.query })
      expect(res.status).toBe(c.status)
      if (c.status === 401) {
        expect(await res.text()).toBe('{"code":401,"error":"Invalid credentials","status":"Unauthorized"}')
        expect(r.events).toEqual([])
        expect(r.received).toEqual([])
      } else {
        expect(r.insertIds()).toEqual([insertId(0)])
        expect(r.requests[0]!.auth).toBe(c.auth)
      }
    })
  }

  it("the project secret is refused when the receiver has none", async () => {
    const r = await startMixpanelReceiver({ token: TOKEN })
    started.push(r)
    const res = await postEvents(r, [ev(0)], { authorization: basic(SECRET, "") })
    expect(res.status).toBe(401)
  })
})

describe("mixpanel receiver: encodings and formats", () => {
  it("gunzips a gzip JSON array", async () => {
    const r = await receiver()
    const res = await post(r, zlib.gzipSync(JSON.stringify([ev(1), ev(2)])), { headers: { "content-encoding": "gzip" } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ code: 200, num_records_imported: 2, status: "OK" })
    expect(r.insertIds()).toEqual([insertId(1), insertId(2)])
    expect(r.requests[0]).toMatchObject({ gzip: true, format: "json" })
  })

  it("reads ndjson, plain and gzipped, validating each line in strict mode", async () => {
    const r = await receiver()
    const ndjson = [ev(1), ev(2, { time: undefined }), ev(3)].map((e) => JSON.stringify(e)).join("\n") + "\n"
    const plain = await post(r, ndjson, { headers: { "content-type": "application/x-ndjson" } })
    expect(plain.status).toBe(400)
    expect(await plain.json()).toMatchObject({ num_records_imported: 2, failed_records: [{ index: 1, field: "properties.time" }] })
    const gzipped = await post(r, zlib.gzipSync(JSON.stringify(ev(4)) + "\r\n" + JSON.stringify(ev(5))), {
      headers: { "content-type": "application/x-ndjson", "content-encoding": "gzip" }
    })
    expect(gzipped.status).toBe(200)
    expect(await gzipped.json()).toEqual({ code: 200, num_records_imported: 2, status: "OK" })
    expect(r.insertIds()).toEqual([insertId(1), insertId(3), insertId(4), insertId(5)])
    expect(r.requests.map((q) => [q.format, q.gzip])).toEqual([
      ["ndjson", false],
      ["ndjson", true]
    ])
  })

  it("an ndjson body sent as application/json is not an array: 400", async () => {
    const r = await receiver()
    const res = await post(r, `${JSON.stringify(ev(1))}\n${JSON.stringify(ev(2))}`)
    expect(res.status).toBe(400)
    expect(r.events).toEqual([])
  })

  it("a body labelled gzip that is not gzip: 400, nothing stored", async () => {
    const r = await receiver()
    const res = await post(r, JSON.stringify([ev(1)]), { headers: { "content-encoding": "gzip" } })
    expect(res.status).toBe(400)
    expect(r.events).toEqual([])
  })

  it("the legacy data= form of the mixpanel npm client: base64 JSON, answered 1 (verbose: {status:1})", async () => {
    const r = await receiver()
    const form = (events: unknown) => `data=${encodeURIComponent(Buffer.from(JSON.stringify(events)).toString("base64"))}`
    const headers = { "content-type": "application/x-www-form-urlencoded" }
    const plain = await post(r, form([ev(1), ev(2, { token: TOKEN })]), { query: `ip=0&verbose=0&api_key=${SECRET}`, authorization: undefined, headers })
    expect(plain.status).toBe(200)
    expect(await plain.text()).toBe("1")
    const verbose = await post(r, form(ev(3)), { query: "ip=0&verbose=1", authorization: basic(SECRET, ""), headers })
    expect(await verbose.json()).toEqual({ status: 1, error: null })
    const badKey = await post(r, form([ev(4)]), { query: "ip=0&verbose=0&api_key=wrong", authorization: undefined, headers })
    expect(badKey.status).toBe(401)
    expect(r.insertIds()).toEqual([insertId(1), insertId(2), insertId(3)])
    expect(r.requests.map((q) => q.format)).toEqual(["form", "form", "form"])
  })

  it("acceptLegacyForm: false refuses the form", async () => {
    const r = await receiver({ acceptLegacyForm: false })
    const res = await post(r, `data=${Buffer.from(JSON.stringify([ev(1)])).toString("base64")}`, { headers: { "content-type": "application/x-www-form-urlencoded" } })
    expect(res.status).toBe(415)
    expect(r.events).toEqual([])
  })
})

describe("mixpanel receiver: request limits (413)", () => {
  it("2,000 records are taken, 2,001 refused whole with 413", async () => {
    const r = await receiver()
    const batch = Array.from({ length: 2_001 }, (_, i) => ev(i))
    const over = await postEvents(r, batch)
    expect(over.status).toBe(413)
    expect(await over.json()).toMatchObject({ code: 413, status: "Request Entity Too Large", error: expect.stringContaining("2000") })
    expect(r.events).toEqual([])
    const atLimit = await postEvents(r, batch.slice(0, 2_000))
    expect(atLimit.status).toBe(200)
    expect(r.events).toHaveLength(2_000)
  })

  it("the default byte limit is 10 MB uncompressed, also for a small gzip body", async () => {
    const r = await receiver()
    const inflated = `[${JSON.stringify(ev(1))}${" ".repeat(10 * 1024 * 1024)}]`
    const gz = zlib.gzipSync(inflated)
    expect(gz.length).toBeLessThan(100_000)
    const res = await post(r, gz, { headers: { "content-encoding": "gzip" } })
    expect(res.status).toBe(413)
    expect(await res.text()).toBe(`{"code":413,"error":"request exceeds max limit of ${10 * 1024 * 1024} bytes","status":"Request Entity Too Large"}`)
    const under = await post(r, zlib.gzipSync(`[${JSON.stringify(ev(2))}${" ".repeat(9 * 1024 * 1024)}]`), { headers: { "content-encoding": "gzip" } })
    expect(under.status).toBe(200)
    expect(r.insertIds()).toEqual([insertId(2)])
  })

  it("maxRequestBytes: exactly the limit is taken, one byte more refused, plain or gzipped", async () => {
    const limit = 4_000
    const r = await receiver({ maxRequestBytes: limit })
    const exactly = (i: number, bytes: number) => {
      const base = JSON.stringify([ev(i, { pad: "" })])
      return JSON.stringify([ev(i, { pad: "p".repeat(bytes - Buffer.byteLength(base)) })])
    }
    expect(Buffer.byteLength(exactly(1, limit))).toBe(limit)
    expect((await post(r, exactly(1, limit + 1))).status).toBe(413)
    expect((await post(r, zlib.gzipSync(exactly(2, limit + 1)), { headers: { "content-encoding": "gzip" } })).status).toBe(413)
    expect((await post(r, exactly(3, limit))).status).toBe(200)
    expect((await post(r, zlib.gzipSync(exactly(4, limit)), { headers: { "content-encoding": "gzip" } })).status).toBe(200)
    expect(r.insertIds()).toEqual([insertId(3), insertId(4)])
  })
})

describe("mixpanel receiver: dedupe on (event, distinct_id, time, $insert_id)", () => {
  it("the same tuple is imported each time but stored once, whatever the other properties", async () => {
    const r = await receiver()
    const first = await postEvents(r, [ev(1)])
    const again = await postEvents(r, [ev(1, { "Variant name": "changed" })])
    expect(await first.json()).toEqual({ code: 200, num_records_imported: 1, status: "OK" })
    expect(await again.json()).toEqual({ code: 200, num_records_imported: 1, status: "OK" })
    expect(r.events).toEqual([ev(1)])
    expect(r.duplicates).toEqual([ev(1, { "Variant name": "changed" })])
    expect(r.received).toHaveLength(2)
    expect(r.stats()).toMatchObject({ imported: 2, unique: 1, duplicates: 1 })
    expect(r.requests.map((q) => q.duplicates)).toEqual([0, 1])
  })

  it("a different time, event name or distinct_id with the same $insert_id is another event", async () => {
    const r = await receiver()
    await postEvents(r, [ev(1), ev(1, { time: NOW - 60_000 + 2 }), { ...ev(1), event: "other" }, ev(1, { distinct_id: "user-2" }), ev(1)])
    expect(r.insertIds()).toEqual([insertId(1), insertId(1), insertId(1), insertId(1)])
    expect(r.stats()).toMatchObject({ unique: 4, duplicates: 1 })
  })

  it("the same instant in seconds and in milliseconds is one time", async () => {
    const r = await receiver()
    const seconds = Math.floor(NOW / 1000) - 60
    await postEvents(r, [ev(1, { time: seconds }), ev(1, { time: seconds * 1000 }), ev(1, { time: seconds * 1000 + 1 })])
    expect(r.stats()).toMatchObject({ unique: 2, duplicates: 1 })
  })

  it("duplicates inside one strict request are counted in num_records_imported", async () => {
    const r = await receiver()
    const res = await postEvents(r, [ev(1), ev(1), ev(2)])
    expect(await res.json()).toEqual({ code: 200, num_records_imported: 3, status: "OK" })
    expect(r.insertIds()).toEqual([insertId(1), insertId(2)])
  })
})

describe("mixpanel receiver: faults", () => {
  it("429: Mixpanel's JSON body and no Retry-After; nothing stored; the next request is served", async () => {
    const r = await receiver()
    r.fault({ kind: "429" })
    const res = await postEvents(r, [ev(1)])
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBeNull()
    expect(await res.text()).toBe('{"code":429,"error":"Project exceeded rate limits. Please retry the request with exponential backoff.","status":"Too Many Requests"}')
    expect(r.events).toEqual([])
    expect((await postEvents(r, [ev(1)])).status).toBe(200)
    expect(r.insertIds()).toEqual([insertId(1)])
    expect(r.requests.map((q) => [q.status, q.fault])).toEqual([
      [429, "429"],
      [200, undefined]
    ])
  })

  it("429 with retryAfter sends the header", async () => {
    const r = await receiver()
    r.fault({ kind: "429", retryAfter: "7" })
    const res = await postEvents(r, [ev(1)])
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBe("7")
  })

  for (const kind of ["502", "503"] as const) {
    it(`${kind}: answered before auth and validation, nothing stored`, async () => {
      const r = await receiver()
      r.fault({ kind })
      const res = await postEvents(r, [ev(1)], { authorization: undefined })
      expect(res.status).toBe(Number(kind))
      expect(await res.json()).toMatchObject({ code: Number(kind) })
      expect(r.events).toEqual([])
      expect(r.stats()).toMatchObject({ faults: 1, received: 0, statuses: { [kind]: 1 } })
    })
  }

  it("fault count: the next N requests get it, then normal service", async () => {
    const r = await receiver()
    r.fault({ kind: "503" }, { count: 2 })
    r.fault({ kind: "502" })
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await postEvents(r, [ev(i)])).status)
    expect(statuses).toEqual([503, 503, 502, 200])
    expect(r.insertIds()).toEqual([insertId(3)])
  })

  it("clearFaults drops the faults not yet played", async () => {
    const r = await receiver()
    r.fault({ kind: "503" }, { count: Infinity })
    expect((await postEvents(r, [ev(1)])).status).toBe(503)
    r.clearFaults()
    expect((await postEvents(r, [ev(1)])).status).toBe(200)
  })

  it("reset: the connection is destroyed before processing, nothing stored", async () => {
    const r = await receiver()
    r.fault({ kind: "reset" })
    expect(await outcome(postEvents(r, [ev(1)]))).toBe("failed")
    expect(r.events).toEqual([])
    expect(r.received).toEqual([])
    expect((await postEvents(r, [ev(2)])).status).toBe(200)
    expect(r.insertIds()).toEqual([insertId(2)])
    expect(r.requests.map((q) => [q.status, q.fault])).toEqual([
      [0, "reset"],
      [200, undefined]
    ])
  })

  it("resetAfterStore: the events are stored but the sender never learns it; its retry is a duplicate", async () => {
    const r = await receiver()
    r.fault({ kind: "resetAfterStore" })
    expect(await outcome(postEvents(r, [ev(1), ev(2)]))).toBe("failed")
    expect(r.insertIds()).toEqual([insertId(1), insertId(2)])
    const retry = await postEvents(r, [ev(1), ev(2)])
    expect(await retry.json()).toEqual({ code: 200, num_records_imported: 2, status: "OK" })
    expect(r.insertIds()).toEqual([insertId(1), insertId(2)])
    expect(r.stats()).toMatchObject({ duplicates: 2, unique: 2 })
  })

  it("hang: reads the request and never answers; nothing stored; the next one is served", async () => {
    const r = await receiver()
    r.fault({ kind: "hang" })
    const giveUp = new AbortController()
    const timer = setTimeout(() => giveUp.abort(), 300)
    const started = Date.now()
    expect(await outcome(postEvents(r, [ev(1)], { signal: giveUp.signal }))).toBe("aborted")
    clearTimeout(timer)
    expect(Date.now() - started).toBeGreaterThanOrEqual(250)
    expect(r.events).toEqual([])
    expect((await postEvents(r, [ev(2)])).status).toBe(200)
    expect(r.insertIds()).toEqual([insertId(2)])
    expect(r.requests.map((q) => [q.status, q.fault])).toEqual([
      [0, "hang"],
      [200, undefined]
    ])
  })

  it("seeded faults: the same seed plays the same faults on the same requests, another seed others", async () => {
    const play = async (seed: number, probability = 0.5) => {
      const r = await receiver({ faults: { probability, seed, kinds: [{ kind: "503" }, { kind: "429" }] } })
      const statuses: Array<number> = []
      for (let i = 0; i < 24; i++) statuses.push((await postEvents(r, [ev(i)])).status)
      return { statuses, stored: r.events.length, faults: r.stats().faults }
    }
    const a = await play(42)
    const b = await play(42)
    const c = await play(7)
    expect(a.statuses).toEqual(b.statuses)
    expect(a.statuses).not.toEqual(c.statuses)
    expect(new Set(a.statuses)).toEqual(new Set([200, 503, 429]))
    expect(a.stored).toBe(a.statuses.filter((s) => s === 200).length)
    expect(a.faults).toBe(24 - a.stored)
    expect((await play(42, 0)).faults).toBe(0)
    expect((await play(42, 1)).stored).toBe(0)
  })
})

describe("mixpanel receiver: stats and scope", () => {
  it("GET /stats returns the counters; other paths are 404", async () => {
    const r = await receiver()
    await postEvents(r, [ev(1), ev(1), ev(2, { time: undefined })])
    await postEvents(r, [ev(3)], { authorization: undefined })
    const stats = await (await fetch(`${r.url}/stats`)).json()
    expect(stats).toEqual({
      requests: 2,
      statuses: { "400": 1, "401": 1 },
      faults: 0,
      received: 3,
      imported: 2,
      unique: 1,
      duplicates: 1,
      failedRecords: 1,
      dropped: 0
    })
    expect((await fetch(`${r.url}/track`, { method: "POST", body: "[]" })).status).toBe(404)
  })

  it("mixpanelReceiver: a scoped resource, stopped when the scope closes", async () => {
    const url = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const r = yield* mixpanelReceiver({ token: TOKEN })
          const res = yield* Effect.promise(() => postEvents(r, [ev(1)]))
          expect(res.status).toBe(200)
          return r.url
        })
      )
    )
    expect(await outcome(fetch(`${url}/stats`))).toBe("failed")
  })
})

describe("mixpanel receiver CLI (built: run `tsc -b packages/testkit` first)", () => {
  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "mixpanel", "mixpanelReceiverCli.js")

  it("runs as its own process: prints its url, takes the secret, serves /stats, stops on SIGTERM", async () => {
    expect(fs.existsSync(cli)).toBe(true)
    const child = spawn(process.execPath, [cli, "--secret", "cli-secret", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] })
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = ""
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString("utf8")
          const at = out.indexOf("\n")
          if (at >= 0) resolve(out.slice(0, at))
        })
        child.once("exit", (code) => reject(new Error(`exited ${code} before printing its url`)))
      })
      const { url } = JSON.parse(line) as { url: string }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const send = (authorization: string, events: ReadonlyArray<unknown>) =>
        fetch(`${url}/import?strict=1`, { method: "POST", headers: { authorization, "content-type": "application/json" }, body: JSON.stringify(events) })
      expect((await send(basic("cli-secret", ""), [ev(1, { time: Date.now() - 1000 }), ev(2, { time: Date.now() - 1000 })])).status).toBe(200)
      expect((await send(basic("wrong", ""), [ev(3, { time: Date.now() })])).status).toBe(401)
      expect(await (await fetch(`${url}/stats`)).json()).toMatchObject({ requests: 2, imported: 2, unique: 2, statuses: { "200": 1, "401": 1 } })
      child.kill("SIGTERM")
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL")
    }
  })
})
