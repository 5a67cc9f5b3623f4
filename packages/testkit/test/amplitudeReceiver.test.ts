import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import * as Effect from "effect/Effect"
import { afterEach, describe, expect, it } from "vitest"
import type { AmplitudeReceiver, AmplitudeReceiverOptions } from "../src/amplitude/index.js"
import { AMPLITUDE_DEDUPE_WINDOW_MS, AMPLITUDE_INVALID_IDS, amplitudeReceiver, startAmplitudeReceiver } from "../src/amplitude/index.js"

const KEY = "amp-test-key"
const T0 = 1_718_153_645_993
const here = path.dirname(fileURLToPath(import.meta.url))
const cli = path.join(here, "..", "dist", "amplitude", "amplitudeReceiverCli.js")

type Json = Record<string, unknown>
const event = (i: number, extra: Json = {}): Json => ({
  event_type: "$exposure",
  user_id: `user-${i}`,
  device_id: `device-${i}`,
  time: T0 + i,
  insert_id: `0190f0e2-8c4a-7cde-8f00-${String(i).padStart(12, "0")}`,
  event_properties: { flag_key: "new-ui", variant: "v2", n: i },
  user_properties: { name: "Ann" },
  ...extra
})
const events = (n: number, from = 0) => Array.from({ length: n }, (_, i) => event(from + i))

interface Sent {
  readonly status: number
  readonly body: Json
  readonly headers: Headers
  readonly bytes: number
}
const post = async (
  target: string,
  body: unknown,
  init: { readonly headers?: Record<string, string>; readonly signal?: AbortSignal; readonly raw?: string | Buffer } = {}
): Promise<Sent> => {
  const payload = init.raw ?? JSON.stringify(body)
  const response = await fetch(target, {
    method: "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: payload,
    signal: init.signal ?? null
  })
  return { status: response.status, body: (await response.json()) as Json, headers: response.headers, bytes: Buffer.byteLength(payload) }
}
const upload = (receiver: AmplitudeReceiver, list: ReadonlyArray<unknown>, extra: Json = {}, route: "httpApiUrl" | "batchUrl" = "httpApiUrl") =>
  post(receiver[route], { api_key: KEY, events: list, ...extra })

let clock = T0 + 10_000
const started: Array<AmplitudeReceiver> = []
const start = async (options: Partial<AmplitudeReceiverOptions> = {}) => {
  const receiver = await startAmplitudeReceiver({ apiKey: KEY, now: () => clock, ...options })
  started.push(receiver)
  return receiver
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((receiver) => receiver.stop()))
  clock = T0 + 10_000
})

/** The outcome of a request the receiver may never answer. */
const attempt = (promise: Promise<Sent>) =>
  promise.then(
    (sent) => `answered ${sent.status}`,
    (error: Error) => (error.name === "AbortError" ? "AbortError" : `failed: ${error.message}`)
  )

describe("amplitude receiver: a valid upload", () => {
  for (const route of ["httpApiUrl", "batchUrl"] as const) {
    it(`${route}: 200 with Amplitude's body, every event stored with its fields, the request logged`, async () => {
      const receiver = await start()
      const sent = events(3)
      const answer = await upload(receiver, sent, { options: { min_id_length: 5 } }, route)
      expect(answer.status).toBe(200)
      expect(answer.body).toEqual({ code: 200, events_ingested: 3, payload_size_bytes: answer.bytes, server_upload_time: clock })
      expect(receiver.events).toEqual(sent)
      expect(receiver.events[1]).toMatchObject({ event_type: "$exposure", user_id: "user-1", device_id: "device-1", time: T0 + 1, event_properties: { n: 1 } })
      expect(receiver.received).toBe(3)
      expect(receiver.requests).toEqual([
        { path: route === "batchUrl" ? "/batch" : "/2/httpapi", status: 200, events: 3, stored: 3, duplicates: 0, options: { min_id_length: 5 }, bytes: answer.bytes }
      ])
      expect(receiver.stats()).toEqual({ requests: 1, statuses: { "200": 1 }, faults: 0, received: 3, stored: 3, duplicates: 0, rejected: 0 })
    })
  }

  it("takes a gzip body and a charset in the content type", async () => {
    const receiver = await start()
    const raw = gzipSync(JSON.stringify({ api_key: KEY, events: events(2) }))
    const response = await fetch(receiver.httpApiUrl, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", "content-encoding": "gzip" },
      body: raw
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ code: 200, events_ingested: 2 })
    expect(receiver.events).toEqual(events(2))
  })
})

describe("amplitude receiver: per-event checks (400 with index maps, the rest ingested)", () => {
  it("a user_id shorter than 5 is refused by index, even with a valid device_id; the rest are stored", async () => {
    const receiver = await start()
    const answer = await upload(receiver, [event(0), event(1, { user_id: "u42" }), event(2, { device_id: "dv1" }), event(3)])
    expect(answer.status).toBe(400)
    expect(answer.body).toEqual({
      code: 400,
      error: "Invalid id length for user_id or device_id",
      events_with_invalid_id_lengths: { user_id: [1], device_id: [2] }
    })
    expect(receiver.events.map((e) => e["user_id"])).toEqual(["user-0", "user-3"])
    expect(receiver.stats()).toMatchObject({ received: 2, stored: 2, rejected: 2 })
  })

  it("options.min_id_length lets shorter ids through, and is applied per request", async () => {
    const receiver = await start()
    const short = [event(0, { user_id: "u1", device_id: undefined }), event(1, { user_id: "u42" })]
    expect((await upload(receiver, short, { options: { min_id_length: 2 } })).body).toMatchObject({ code: 200, events_ingested: 2 })
    expect(receiver.events.map((e) => e["user_id"])).toEqual(["u1", "u42"])
    // Not sticky: the next request without the option is held to 5 again; a length of 3 still refuses "u1".
    expect((await upload(receiver, [event(2, { user_id: "u42" })])).status).toBe(400)
    expect((await upload(receiver, [event(3, { user_id: "u1" })], { options: { min_id_length: 3 } })).body).toMatchObject({
      events_with_invalid_id_lengths: { user_id: [0] }
    })
    expect(receiver.events).toHaveLength(2)
  })

  it("a missing event_type: 400 with events_with_missing_fields, the others stored", async () => {
    const receiver = await start()
    const answer = await upload(receiver, [event(0), event(1, { event_type: undefined }), event(2), event(3, { event_type: "" }), event(4)])
    expect(answer.status).toBe(400)
    expect(answer.body).toEqual({ code: 400, error: "Request missing required field", events_with_missing_fields: { event_type: [1, 3] } })
    expect(receiver.events.map((e) => e["insert_id"])).toEqual([0, 2, 4].map((i) => event(i)["insert_id"]))
    expect(receiver.requests[0]).toMatchObject({ status: 400, events: 5, stored: 3 })
  })

  it("an event with neither user_id nor device_id is refused by index", async () => {
    const receiver = await start()
    const answer = await upload(receiver, [event(0, { user_id: undefined, device_id: undefined }), event(1, { user_id: null, device_id: "device-1" })])
    expect(answer.body).toEqual({ code: 400, error: "Request missing required field", events_with_missing_fields: { device_id: [0] } })
    expect(receiver.events).toEqual([event(1, { user_id: null, device_id: "device-1" })])
  })

  it("ingestValidOn400: false stores none of a refused request's events", async () => {
    const receiver = await start({ ingestValidOn400: false })
    expect((await upload(receiver, [event(0), event(1, { event_type: undefined })])).status).toBe(400)
    expect(receiver.events).toEqual([])
    expect((await upload(receiver, [event(0)])).status).toBe(200)
    expect(receiver.events).toHaveLength(1)
  })

  it("every id on Amplitude's invalid list is refused as user_id and as device_id, whatever the case and min_id_length", async () => {
    const receiver = await start()
    const bad = [...AMPLITUDE_INVALID_IDS, "NULL", "Anonymous"]
    expect(AMPLITUDE_INVALID_IDS).toEqual(expect.arrayContaining(["anonymous", "nil", "none", "null", "n/a", "na", "undefined", "unknown", "00000000-0000-0000-0000-000000000000", "{}", "lmy47d", "0", "-1"]))
    const asUser = await upload(receiver, [...bad.map((id, i) => event(i, { user_id: id })), event(99)], { options: { min_id_length: 0 } })
    expect(asUser.body).toEqual({ code: 400, error: "Invalid field values on some events", events_with_invalid_fields: { user_id: bad.map((_, i) => i) } })
    const asDevice = await upload(receiver, bad.map((id, i) => event(i, { device_id: id })), { options: { min_id_length: 0 } })
    expect(asDevice.body).toMatchObject({ events_with_invalid_fields: { device_id: bad.map((_, i) => i) } })
    expect(receiver.events).toEqual([event(99)])
    // Not a blanket refusal of short or odd ids: with min_id_length 0 these are fine.
    expect((await upload(receiver, [event(1, { user_id: "x", device_id: "nulls" })], { options: { min_id_length: 0 } })).status).toBe(200)
  })

  it("time must be an integer number of ms: a fraction, an ISO string or a numeric string is an invalid field", async () => {
    const receiver = await start()
    const answer = await upload(receiver, [event(0), event(1, { time: T0 + 0.5 }), event(2, { time: "2024-06-12T00:54:05.993Z" }), event(3, { time: String(T0) }), event(4, { time: undefined })])
    expect(answer.body).toEqual({ code: 400, error: "Invalid field values on some events", events_with_invalid_fields: { time: [1, 2, 3] } })
    expect(receiver.events.map((e) => e["time"])).toEqual([T0, undefined])
  })

  it("validTimeRange (not Amplitude's contract) catches microseconds sent as ms", async () => {
    const receiver = await start({ validTimeRange: { min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) } })
    const answer = await upload(receiver, [event(0), event(1, { time: T0 * 1000 })])
    expect(answer.body).toMatchObject({ code: 400, events_with_invalid_fields: { time: [1] } })
    expect(receiver.events).toEqual([event(0)])
  })

  it("several kinds of refusal in one request are all listed, missing and invalid together", async () => {
    const receiver = await start()
    const answer = await upload(receiver, [event(0, { event_type: undefined }), event(1, { time: 1.5 }), event(2, { user_id: "abc" }), event(3)])
    expect(answer.body).toEqual({
      code: 400,
      error: "Invalid field values on some events",
      events_with_missing_fields: { event_type: [0] },
      events_with_invalid_fields: { time: [1] },
      events_with_invalid_id_lengths: { user_id: [2] }
    })
    expect(receiver.events).toEqual([event(3)])
  })
})

describe("amplitude receiver: request-level refusals (every body carries code)", () => {
  it("413 above 2,000 events; exactly 2,000 are taken", async () => {
    const receiver = await start()
    const over = await upload(receiver, events(2_001))
    expect(over.status).toBe(413)
    expect(over.body).toEqual({ code: 413, error: "Payload too large" })
    expect(receiver.events).toEqual([])
    const at = await upload(receiver, events(2_000))
    expect(at.body).toMatchObject({ code: 200, events_ingested: 2_000 })
    expect(receiver.events).toHaveLength(2_000)
  })

  it("413 above 1,000,000 bytes on /2/httpapi (under 2,000 events); the same body is taken on /batch, which allows 20 MB", async () => {
    const receiver = await start()
    const list = Array.from({ length: 1_100 }, (_, i) => event(i, { event_properties: { blob: "x".repeat(950) } }))
    const bytes = (n: number) => Buffer.byteLength(JSON.stringify({ api_key: KEY, events: list.slice(0, n) }))
    // The largest prefix that fits, then pad its first event so that the body is exactly 1,000,000 bytes.
    let n = 1
    for (let high = list.length; n < high; ) {
      const mid = Math.ceil((n + high) / 2)
      if (bytes(mid) <= 1_000_000) n = mid
      else high = mid - 1
    }
    const pad = 1_000_000 - bytes(n)
    const fits = [event(0, { event_properties: { blob: "x".repeat(950 + pad) } }), ...list.slice(1, n)]
    const exact = { api_key: KEY, events: fits }
    expect(Buffer.byteLength(JSON.stringify(exact))).toBe(1_000_000)
    const over = { api_key: KEY, events: [...fits.slice(0, -1), { ...fits[fits.length - 1]!, pad: "" }] }
    expect(Buffer.byteLength(JSON.stringify(over))).toBeGreaterThan(1_000_000)
    expect(over.events.length).toBeLessThan(2_000)
    const refused = await post(receiver.httpApiUrl, over)
    expect(refused.status).toBe(413)
    expect(refused.body).toEqual({ code: 413, error: "Payload too large" })
    expect(receiver.events).toEqual([])
    expect((await post(receiver.httpApiUrl, exact)).body).toMatchObject({ code: 200, events_ingested: n })
    const all = { api_key: KEY, events: list }
    expect((await post(receiver.batchUrl, all)).body).toMatchObject({ code: 200, events_ingested: 1_100 })
    expect(receiver.stats()).toMatchObject({ stored: 1_100, duplicates: n })
  })

  it("413 above 20 MB on /batch", async () => {
    const receiver = await start()
    const props = Object.fromEntries(Array.from({ length: 11 }, (_, k) => [`p${k}`, "y".repeat(1_000)]))
    const list = Array.from({ length: 1_900 }, (_, i) => event(i, { event_properties: props }))
    const body = { api_key: KEY, events: list }
    expect(Buffer.byteLength(JSON.stringify(body))).toBeGreaterThan(20_000_000)
    const over = await post(receiver.batchUrl, body)
    expect(over.body).toEqual({ code: 413, error: "Payload too large" })
    expect(receiver.events).toEqual([])
  })

  it("a wrong api_key: 400 Invalid API key: <key>; a missing one names the field; setApiKey changes the key", async () => {
    const receiver = await start()
    const wrong = await post(receiver.httpApiUrl, { api_key: "not-the-key", events: events(1) })
    expect(wrong.status).toBe(400)
    expect(wrong.body).toEqual({ code: 400, error: "Invalid API key: not-the-key" })
    const missing = await post(receiver.batchUrl, { events: events(1) })
    expect(missing.body).toEqual({ code: 400, error: "Request missing required field", missing_field: "api_key" })
    expect(receiver.events).toEqual([])
    receiver.setApiKey("rotated-key")
    expect((await upload(receiver, events(1))).body).toEqual({ code: 400, error: `Invalid API key: ${KEY}` })
    expect((await post(receiver.httpApiUrl, { api_key: "rotated-key", events: events(1) })).status).toBe(200)
    expect(receiver.events).toHaveLength(1)
  })

  it("the content type, the JSON, the events array and the path are checked, each with a code in the body", async () => {
    const receiver = await start()
    const cases: Array<[Promise<Sent>, number, Json]> = [
      [post(receiver.httpApiUrl, { api_key: KEY, events: events(1) }, { headers: { "content-type": "text/plain" } }), 400, { code: 400, error: "Content-Type must be application/json" }],
      [post(receiver.httpApiUrl, null, { raw: "{not json" }), 400, { code: 400, error: "Invalid JSON request body" }],
      [post(receiver.httpApiUrl, null, { raw: "" }), 400, { code: 400, error: "Missing request body" }],
      [post(receiver.httpApiUrl, { api_key: KEY }), 400, { code: 400, error: "Request missing required field", missing_field: "events" }],
      [post(receiver.httpApiUrl, { api_key: KEY, events: [event(0), "not an event"] }), 400, { code: 400, error: "Invalid event JSON" }],
      [post(`${receiver.url}/2/httpapi/extra`, { api_key: KEY, events: events(1) }), 400, { code: 400, error: "Invalid request path" }]
    ]
    for (const [promise, status, body] of cases) {
      const answer = await promise
      expect(answer.status).toBe(status)
      expect(answer.body).toEqual(body)
    }
    expect(receiver.events).toEqual([])
  })
})

describe("amplitude receiver: dedupe on (device_id or hash(user_id), insert_id) over 7 days", () => {
  it("the same insert_id on the same device is stored once, counted as accepted each time", async () => {
    const receiver = await start()
    const first = await upload(receiver, [event(0)])
    const again = await upload(receiver, [event(0, { event_properties: { changed: true } }), event(1)])
    expect(first.body).toMatchObject({ code: 200, events_ingested: 1 })
    expect(again.body).toMatchObject({ code: 200, events_ingested: 2 })
    expect(receiver.events).toEqual([event(0), event(1)])
    expect(receiver.received).toBe(3)
    expect(receiver.duplicates).toBe(1)
    expect(receiver.requests[1]).toMatchObject({ stored: 1, duplicates: 1 })
  })

  it("the same insert_id on a different device is stored twice; in one request, too", async () => {
    const receiver = await start()
    await upload(receiver, [event(0), event(0, { device_id: "device-other" }), event(0)])
    expect(receiver.events.map((e) => e["device_id"])).toEqual(["device-0", "device-other"])
    expect(receiver.duplicates).toBe(1)
  })

  it("without device_id the key is the user_id's hash: same user once, another user twice, and not equal to a device of that name", async () => {
    const receiver = await start()
    const noDevice = (user: string, extra: Json = {}) => event(0, { device_id: undefined, user_id: user, ...extra })
    await upload(receiver, [noDevice("alice-1"), noDevice("alice-1"), noDevice("bobby-2"), event(0, { device_id: "alice-1", user_id: undefined })])
    expect(receiver.events.map((e) => [e["user_id"], e["device_id"]])).toEqual([
      ["alice-1", undefined],
      ["bobby-2", undefined],
      [undefined, "alice-1"]
    ])
    expect(receiver.duplicates).toBe(1)
  })

  it("events without insert_id are never deduplicated; after 7 days an insert_id is new again", async () => {
    const receiver = await start()
    await upload(receiver, [event(0, { insert_id: undefined }), event(0, { insert_id: undefined })])
    expect(receiver.events).toHaveLength(2)
    await upload(receiver, [event(5)])
    clock += AMPLITUDE_DEDUPE_WINDOW_MS - 1
    await upload(receiver, [event(5)])
    expect(receiver.events).toHaveLength(3)
    clock += 2
    await upload(receiver, [event(5)])
    expect(receiver.events).toHaveLength(4)
    expect(receiver.stats()).toMatchObject({ received: 5, stored: 4, duplicates: 1 })
  })
})

describe("amplitude receiver: faults", () => {
  it("429: throttled_events lists every index, throttled_users / throttled_devices their ids; no Retry-After; nothing stored", async () => {
    const receiver = await start()
    receiver.fault({ kind: "429" })
    const answer = await upload(receiver, [event(0), event(1, { user_id: undefined })])
    expect(answer.status).toBe(429)
    expect(answer.body).toEqual({
      code: 429,
      error: "Too many requests for some devices and users",
      eps_threshold: 30,
      throttled_devices: { "device-0": 31, "device-1": 31 },
      throttled_users: { "user-0": 31 },
      throttled_events: [0, 1]
    })
    expect(answer.headers.get("retry-after")).toBeNull()
    expect(receiver.events).toEqual([])
    expect((await upload(receiver, [event(0)])).status).toBe(200)
    expect(receiver.requests.map((r) => [r.status, r.fault])).toEqual([
      [429, "429"],
      [200, undefined]
    ])
  })

  it("429 for some users, with retryAfter and ingestOthers: only their indexes, the header, the others stored", async () => {
    const receiver = await start()
    receiver.fault({ kind: "429", users: ["user-1", "user-3"], retryAfter: "15", ingestOthers: true })
    const answer = await upload(receiver, events(4))
    expect(answer.body).toMatchObject({ code: 429, throttled_events: [1, 3], throttled_users: { "user-1": 31, "user-3": 31 }, throttled_devices: {} })
    expect(answer.headers.get("retry-after")).toBe("15")
    expect(receiver.events.map((e) => e["user_id"])).toEqual(["user-0", "user-2"])
  })

  it("429 on /batch carries exceeded_daily_quota_users and _devices; dailyQuota fills them instead of the throttled maps", async () => {
    const receiver = await start()
    receiver.fault({ kind: "429" })
    receiver.fault({ kind: "429", users: ["user-2"], dailyQuota: true })
    const plain = await upload(receiver, events(2), {}, "batchUrl")
    expect(plain.body).toMatchObject({ code: 429, eps_threshold: 1_000, exceeded_daily_quota_users: {}, exceeded_daily_quota_devices: {}, throttled_events: [0, 1] })
    const quota = await upload(receiver, events(3), {}, "batchUrl")
    expect(quota.body).toEqual({
      code: 429,
      error: "Too many requests for some devices and users",
      eps_threshold: 1_000,
      throttled_devices: {},
      throttled_users: {},
      exceeded_daily_quota_users: { "user-2": 500_001 },
      exceeded_daily_quota_devices: {},
      throttled_events: [2]
    })
    expect(receiver.events).toEqual([])
  })

  it("fault(f, {count}) plays on the next N requests, then the receiver answers normally", async () => {
    const receiver = await start()
    receiver.fault({ kind: "503" }, { count: 2 })
    const statuses: Array<number> = []
    const bodies: Array<Json> = []
    for (let i = 0; i < 3; i++) {
      const answer = await upload(receiver, [event(i)])
      statuses.push(answer.status)
      bodies.push(answer.body)
    }
    expect(statuses).toEqual([503, 503, 200])
    expect(bodies[0]).toEqual({ code: 503, error: "Service Unavailable" })
    expect(receiver.events).toEqual([event(2)])
    expect(receiver.stats()).toMatchObject({ faults: 2, statuses: { "503": 2, "200": 1 } })
    receiver.fault({ kind: "503" }, { count: 5 })
    receiver.clearFaults()
    expect((await upload(receiver, [event(3)])).status).toBe(200)
  })

  it("500 stores nothing; 500AfterIngest stores the events and answers 500, and the retry is a duplicate", async () => {
    const receiver = await start()
    receiver.fault({ kind: "500" })
    const before = await upload(receiver, [event(0)])
    expect(before.status).toBe(500)
    expect(before.body).toEqual({ code: 500, error: "Internal Server Error" })
    expect(receiver.events).toEqual([])
    receiver.fault({ kind: "500AfterIngest", status: 502 })
    const after = await upload(receiver, [event(0), event(1)])
    expect(after.status).toBe(502)
    expect(after.body).toMatchObject({ code: 502 })
    expect(receiver.events).toEqual([event(0), event(1)])
    const retry = await upload(receiver, [event(0), event(1)])
    expect(retry.body).toMatchObject({ code: 200, events_ingested: 2 })
    expect(receiver.events).toHaveLength(2)
    expect(receiver.duplicates).toBe(2)
  })

  it("reset: the connection is reset before processing, nothing stored; the next request is answered", async () => {
    const receiver = await start()
    receiver.fault({ kind: "reset" })
    expect(await attempt(upload(receiver, [event(0)]))).toMatch(/^failed: /)
    expect(receiver.events).toEqual([])
    expect((await upload(receiver, [event(1)])).status).toBe(200)
    expect(receiver.requests.map((r) => [r.status, r.fault ?? null, r.stored])).toEqual([
      [0, "reset", 0],
      [200, null, 1]
    ])
  })

  it("resetAfterAccept: stored, then the connection is reset (with and without half an answer written)", async () => {
    const receiver = await start()
    receiver.fault({ kind: "resetAfterAccept" })
    receiver.fault({ kind: "resetAfterAccept", partial: true })
    expect(await attempt(upload(receiver, [event(0)]))).toMatch(/^failed: /)
    expect(await attempt(upload(receiver, [event(1)]))).toMatch(/^failed: /)
    expect(receiver.events).toEqual([event(0), event(1)])
    expect(receiver.requests.map((r) => r.status)).toEqual([0, 0])
  })

  it("hang: read and never answered, nothing stored, then the next one is answered", async () => {
    const receiver = await start()
    receiver.fault({ kind: "hang" })
    const outcome = await attempt(post(receiver.httpApiUrl, { api_key: KEY, events: [event(0)] }, { signal: AbortSignal.timeout(300) }))
    expect(outcome).toMatch(/AbortError|aborted|timeout/i)
    expect(receiver.events).toEqual([])
    expect(receiver.requests).toEqual([expect.objectContaining({ status: 0, fault: "hang", stored: 0 })])
    expect((await upload(receiver, [event(1)])).status).toBe(200)
  })

  it("slow: stored at once, answered after delayMs; a sender with a shorter deadline gives up and its retry is a duplicate", async () => {
    const receiver = await start()
    receiver.fault({ kind: "slow", delayMs: 1_500 })
    const outcome = await attempt(post(receiver.httpApiUrl, { api_key: KEY, events: [event(0)] }, { signal: AbortSignal.timeout(300) }))
    expect(outcome).toMatch(/AbortError|aborted|timeout/i)
    expect(receiver.events).toEqual([event(0)])
    expect((await upload(receiver, [event(0)])).status).toBe(200)
    expect(receiver.events).toHaveLength(1)
    receiver.fault({ kind: "slow", delayMs: 700 })
    const began = Date.now()
    const late = await upload(receiver, [event(1)])
    expect(Date.now() - began).toBeGreaterThanOrEqual(650)
    expect(late.body).toMatchObject({ code: 200, events_ingested: 1 })
  })

  it("faults with a seeded probability: the same seed plays the same faults, some requests pass", async () => {
    const play = async (seed: number) => {
      const receiver = await start({ faults: { probability: 0.5, seed, kinds: [{ kind: "503" }, { kind: "429" }] } })
      const statuses: Array<number> = []
      for (let i = 0; i < 20; i++) statuses.push((await upload(receiver, [event(i)])).status)
      return { statuses, stored: receiver.events.length, faults: receiver.stats().faults }
    }
    const a = await play(7)
    const b = await play(7)
    expect(a).toEqual(b)
    expect(new Set(a.statuses)).toEqual(new Set([200, 429, 503]))
    expect(a.stored).toBe(a.statuses.filter((s) => s === 200).length)
    expect(a.faults).toBe(20 - a.stored)
    const never = await start({ faults: { probability: 0, seed: 7, kinds: [{ kind: "503" }] } })
    expect((await upload(never, [event(0)])).status).toBe(200)
  })
})

describe("amplitude receiver: stats, scope, process", () => {
  it("GET /stats returns the counters with a code", async () => {
    const receiver = await start()
    await upload(receiver, [event(0), event(0), event(1, { event_type: undefined })])
    const response = await fetch(`${receiver.url}/stats`)
    expect(await response.json()).toEqual({ code: 200, requests: 1, statuses: { "400": 1 }, faults: 0, received: 2, stored: 1, duplicates: 1, rejected: 1 })
  })

  it("the scoped variant stops the receiver when its scope closes", async () => {
    const url = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const receiver = yield* amplitudeReceiver({ apiKey: KEY })
          const answer = yield* Effect.promise(() => upload(receiver, [event(0)]))
          expect(answer.status).toBe(200)
          return receiver.httpApiUrl
        })
      )
    )
    expect(await attempt(post(url, { api_key: KEY, events: [event(1)] }))).toMatch(/^failed: /)
  })

  it("runs as its own process: prints {url}, serves the routes and GET /stats, stops on SIGTERM", async () => {
    if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run \`npx tsc -b packages/testkit/tsconfig.json\` first`)
    const child = spawn(process.execPath, [cli, "--api-key", "cli-key", "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = ""
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString()
          if (out.includes("\n")) resolve(out.split("\n")[0]!)
        })
        child.on("exit", () => reject(new Error(`exited before printing its url: ${stderr}`)))
      })
      const { url } = JSON.parse(line) as { url: string }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect((await post(`${url}/2/httpapi`, { api_key: "cli-key", events: [event(0), event(0), event(1)] })).body).toMatchObject({ code: 200, events_ingested: 3 })
      expect((await post(`${url}/batch`, { api_key: "wrong", events: [event(2)] })).body).toEqual({ code: 400, error: "Invalid API key: wrong" })
      const stats = (await (await fetch(`${url}/stats`)).json()) as Json
      expect(stats).toMatchObject({ code: 200, requests: 2, received: 3, stored: 2, duplicates: 1, statuses: { "200": 1, "400": 1 } })
      child.kill("SIGTERM")
      expect(await exited).toBe(0)
      expect(stderr).toBe("")
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL")
    }
  })
})
