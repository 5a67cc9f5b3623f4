import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import * as Effect from "effect/Effect"
import { afterEach, describe, expect, it } from "vitest"
import { postHogReceiver, startPostHogReceiver } from "../src/posthog/index.js"
import type { PostHogReceiver, PostHogReceiverOptions } from "../src/posthog/index.js"

const KEY = "phc_receiver_test_key"
const NOW = Date.parse("2024-06-12T00:00:00.500Z")

const started: Array<PostHogReceiver> = []
const start = async (options: Partial<PostHogReceiverOptions> = {}) => {
  const receiver = await startPostHogReceiver({ apiKey: KEY, clock: () => NOW, ...options })
  started.push(receiver)
  return receiver
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((receiver) => receiver.stop()))
})

const uuid = (n: number) => `0190f0e2-8c4a-7cde-8f00-${String(n).padStart(12, "0")}`
const event = (n: number, extra: Record<string, unknown> = {}) => ({
  event: "$feature_flag_called",
  distinct_id: `user-${n}`,
  uuid: uuid(n),
  timestamp: "2024-06-11T10:00:00.123456Z",
  properties: { $feature_flag: "new-ui", $feature_flag_response: "v2" },
  ...extra
})

interface Answer {
  readonly status: number
  readonly contentType: string | null
  readonly retryAfter: string | null
  readonly text: string
}
const post = async (
  url: string,
  body: unknown,
  init: { readonly path?: string; readonly headers?: Record<string, string>; readonly signal?: AbortSignal } = {}
): Promise<Answer> => {
  const raw = typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body)
  const response = await fetch(`${url}${init.path ?? "/batch/"}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: raw,
    signal: init.signal ?? null
  })
  return { status: response.status, contentType: response.headers.get("content-type"), retryAfter: response.headers.get("retry-after"), text: await response.text() }
}
const batch = (events: ReadonlyArray<unknown>, extra: Record<string, unknown> = {}) => ({ api_key: KEY, batch: events, ...extra })

describe("posthog receiver: a valid batch", () => {
  it("answers {\"status\":1} and stores every event with every field as given", async () => {
    const receiver = await start()
    const flag = event(1, { properties: { $feature_flag: "new-ui", $feature_flag_response: "v2", $set: { name: "Ann" }, locally_evaluated: false } })
    const second = {
      event: "checkout",
      uuid: "0190F0E2-8C4A-7CDE-8F00-00000000000A",
      timestamp: "2024-06-11T10:00:01Z",
      properties: { distinct_id: "user-2", $feature_flag: "ignored-here", amount: 12.5 }
    }
    const answer = await post(receiver.url, batch([flag, second]))
    expect(answer).toEqual({ status: 200, contentType: "application/json", retryAfter: null, text: '{"status":1}' })
    expect(receiver.rows).toEqual([
      {
        request: 0,
        event: "$feature_flag_called",
        distinctId: "user-1",
        uuid: uuid(1),
        uuidGenerated: false,
        timestamp: "2024-06-11T10:00:00.123456Z",
        timestampSource: "timestamp",
        sentTimestamp: "2024-06-11T10:00:00.123456Z",
        day: "2024-06-11",
        properties: { $feature_flag: "new-ui", $feature_flag_response: "v2", $set: { name: "Ann" }, locally_evaluated: false },
        historicalMigration: false,
        raw: flag
      },
      {
        request: 0,
        event: "checkout",
        distinctId: "user-2",
        uuid: "0190f0e2-8c4a-7cde-8f00-00000000000a",
        uuidGenerated: false,
        timestamp: "2024-06-11T10:00:01.000000Z",
        timestampSource: "timestamp",
        sentTimestamp: "2024-06-11T10:00:01Z",
        day: "2024-06-11",
        properties: second.properties,
        historicalMigration: false,
        raw: second
      }
    ])
    expect(receiver.requests).toMatchObject([{ index: 0, path: "/batch/", apiKey: KEY, events: 2, stored: 2, status: 200, gzip: false, historicalMigration: undefined }])
    expect(receiver.stats()).toMatchObject({ requests: 1, acceptedRequests: 1, rawRows: 2, mergedRows: 2, duplicates: 0, statuses: { "200": 1 } })
  })

  it("takes /batch without the slash, `token` for `api_key`, and the array form on /i/v0/e/; other paths are 404", async () => {
    const receiver = await start()
    expect((await post(receiver.url, batch([event(1)]), { path: "/batch" })).status).toBe(200)
    expect((await post(receiver.url, { token: KEY, batch: [event(2)] })).status).toBe(200)
    expect((await post(receiver.url, [{ ...event(3), token: KEY }, { ...event(4), properties: { token: KEY } }], { path: "/i/v0/e/" })).status).toBe(200)
    expect((await post(receiver.url, batch([event(5)]), { path: "/v1/batch" })).status).toBe(404)
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["user-1", "user-2", "user-3", "user-4"])
  })

  it("reads distinct_id as capture does: $distinct_id, numbers and objects stringified, cut to 200 characters; no uuid gets a v7", async () => {
    const receiver = await start()
    const { distinct_id: _drop, ...noId } = event(0)
    const long = "é".repeat(250)
    const answer = await post(
      receiver.url,
      batch([
        { ...noId, $distinct_id: "dollar" },
        { ...noId, distinct_id: 23 },
        { ...noId, distinct_id: { string: "a", number: 3 } },
        { ...noId, distinct_id: null, properties: { distinct_id: "from-properties" } },
        { ...noId, distinct_id: long, uuid: undefined }
      ])
    )
    expect(answer.status).toBe(200)
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["dollar", "23", '{"number":3,"string":"a"}', "from-properties", "é".repeat(200)])
    const generated = receiver.rows[4]!
    expect(generated.uuidGenerated).toBe(true)
    expect(generated.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(receiver.stats().generatedUuids).toBe(1)
  })

  it("stores the timestamp capture computes: sent_at skew, offset, now for missing or unparsable, now for over 23 h ahead", async () => {
    const receiver = await start()
    const { timestamp: _drop, ...noTimestamp } = event(0)
    await post(
      receiver.url,
      // The client's clock is 10 s ahead of the server's (NOW).
      batch(
        [
          { ...event(1), timestamp: "2024-06-11T10:00:00.123456Z" },
          { ...event(2), timestamp: "2024-06-11T10:00:00.123456Z", properties: { $ignore_sent_at: true } },
          { ...noTimestamp, uuid: uuid(3) },
          { ...event(4), timestamp: "yesterday-ish" },
          { ...event(5), offset: 1500 },
          { ...event(6), timestamp: "2024-06-14T00:00:00Z" }
        ],
        { sent_at: "2024-06-12T00:00:10.500Z" }
      )
    )
    expect(receiver.rows.map((row) => [row.timestamp, row.timestampSource])).toEqual([
      ["2024-06-11T09:59:50.123456Z", "sentAtSkew"],
      ["2024-06-11T10:00:00.123456Z", "timestamp"],
      ["2024-06-12T00:00:00.500000Z", "now"],
      ["2024-06-12T00:00:00.500000Z", "now"],
      ["2024-06-11T23:59:59.000000Z", "offset"],
      ["2024-06-12T00:00:00.500000Z", "sentAtSkew"]
    ])
  })
})

describe("posthog receiver: the whole request is refused, nothing is stored", () => {
  const { distinct_id: _drop, ...noDistinctId } = event(9)
  const { event: _name, ...noName } = event(9)
  // The valid event comes first: a receiver that judged events one by one would have stored it. A batch whose
  // events do not parse falls through serde's untagged forms to the "engage" one (no event name), which the
  // batch routes refuse; a body no form takes is a parse error.
  const hydration = "failed to hydrate events from request: non-engage request missing event name attribute"
  const cases: ReadonlyArray<readonly [string, unknown, number, string]> = [
    ["an empty batch", batch([]), 400, "request holds no event"],
    ["an empty event name", batch([event(1), { ...event(2), event: "" }]), 400, "event submitted with an empty event name"],
    ["no event field", batch([event(1), noName]), 400, hydration],
    ["no distinct_id", batch([event(1), noDistinctId]), 400, "event submitted without a distinct_id"],
    ["a null distinct_id", batch([event(1), { ...event(2), distinct_id: null }]), 400, "event submitted without a distinct_id"],
    ["an empty distinct_id", batch([event(1), { ...event(2), distinct_id: "" }]), 400, "event submitted without a distinct_id"],
    ["a malformed uuid", batch([event(1), { ...event(2), uuid: "not-a-uuid" }]), 400, hydration],
    ["a uuid with a non-hex digit", batch([event(1), { ...event(2), uuid: "0190f0e2-8c4a-7cde-8f00-00000000000g" }]), 400, hydration],
    ["a number for timestamp", batch([event(1), { ...event(2), timestamp: 1718150400 }]), 400, hydration],
    ["a number for api_key", { api_key: 5, batch: [event(1)] }, 400, "failed to parse request: data did not match any variant of untagged enum RawRequest"],
    ["only $performance_event", batch([{ ...event(1), event: "$performance_event" }]), 400, "payload empty after filtering invalid event types"],
    ["invalid JSON", '{"api_key":', 400, "failed to parse request:"],
    ["an empty body", "", 400, "request missing data payload"]
  ]
  for (const [name, body, status, message] of cases) {
    it(`${name}: ${status} ${message}`, async () => {
      const receiver = await start()
      const answer = await post(receiver.url, body)
      expect(answer.status).toBe(status)
      expect(answer.contentType).toBe("text/plain; charset=utf-8")
      expect(answer.text.startsWith(message)).toBe(true)
      expect(receiver.rows).toEqual([])
      expect(receiver.stats()).toMatchObject({ rawRows: 0, mergedRows: 0, acceptedRequests: 0 })
    })
  }

  it("an untagged-enum parse error names serde's position at the end of the body", async () => {
    const receiver = await start()
    const body = JSON.stringify([{ ...event(1), token: KEY }, { ...event(2), token: KEY, uuid: "nope" }])
    const answer = await post(receiver.url, body, { path: "/i/v0/e/" })
    expect(answer.text).toBe(`failed to parse request: data did not match any variant of untagged enum RawRequest at line 1 column ${body.length}`)
  })
})

describe("posthog receiver: gzip", () => {
  it("gunzips with Content-Encoding: gzip, with ?compression=gzip-js, and by the magic bytes alone", async () => {
    const receiver = await start()
    const zipped = (n: number) => gzipSync(Buffer.from(JSON.stringify(batch([event(n)]))))
    expect((await post(receiver.url, zipped(1), { headers: { "content-encoding": "gzip" } })).status).toBe(200)
    expect((await post(receiver.url, zipped(2), { path: "/batch/?compression=gzip-js" })).status).toBe(200)
    expect((await post(receiver.url, zipped(3))).status).toBe(200)
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["user-1", "user-2", "user-3"])
    expect(receiver.requests.map((request) => [request.gzip, request.bytes])).toEqual([
      [true, zipped(1).length],
      [true, zipped(2).length],
      [true, zipped(3).length]
    ])
  })

  it("a body that says gzip and is not: 400 invalid GZIP data, nothing stored", async () => {
    const receiver = await start()
    const answer = await post(receiver.url, batch([event(1)]), { headers: { "content-encoding": "gzip" } })
    expect([answer.status, answer.text]).toEqual([400, "failed to decode request: invalid GZIP data"])
    expect(receiver.rows).toEqual([])
  })
})

describe("posthog receiver: the api key", () => {
  it("a key naming no project: 401, nothing stored; setApiKey changes the key taken", async () => {
    const receiver = await start()
    const wrong = await post(receiver.url, { api_key: "phc_someone_else", batch: [event(1)] })
    expect([wrong.status, wrong.contentType, wrong.text]).toEqual([401, "text/plain; charset=utf-8", "api_key does not resolve to a known project"])
    expect(receiver.rows).toEqual([])
    receiver.setApiKey("phc_someone_else")
    expect((await post(receiver.url, { api_key: "phc_someone_else", batch: [event(2)] })).status).toBe(200)
    expect((await post(receiver.url, batch([event(3)]))).status).toBe(401)
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["user-2"])
  })

  it("malformed keys get capture's reasons; a batch with no key is not a batch to capture (400)", async () => {
    const receiver = await start()
    const answers = [
      await post(receiver.url, { api_key: "  ", batch: [event(1)] }),
      await post(receiver.url, { api_key: "phx_personal", batch: [event(1)] }),
      await post(receiver.url, { api_key: "k".repeat(65), batch: [event(1)] }),
      await post(receiver.url, { batch: [event(1)] }),
      await post(receiver.url, [{ ...event(1), token: "phc_a" }, { ...event(2), token: "phc_b" }], { path: "/e/" }),
      await post(receiver.url, event(1), { path: "/i/v0/e/" })
    ]
    expect(answers.map((answer) => [answer.status, answer.text])).toEqual([
      [401, "API key is not valid: empty"],
      [401, "API key is not valid: personal_api_key"],
      [401, "API key is not valid: too_long"],
      [400, "failed to hydrate events from request: non-engage request missing event name attribute"],
      [401, "batch submitted with inconsistent api_key values"],
      [401, "event submitted without an api_key"]
    ])
    expect(receiver.stats()).toMatchObject({ rawRows: 0, statuses: { "400": 1, "401": 5 } })
  })

  it("a surrounding space is trimmed; unknownKey accept answers 200 and drops, as a capture that does not look keys up", async () => {
    const receiver = await start({ unknownKey: "accept" })
    expect((await post(receiver.url, { api_key: ` ${KEY}\n`, batch: [event(1)] })).status).toBe(200)
    const wrong = await post(receiver.url, { api_key: "phc_other", batch: [event(2), event(3)] })
    expect([wrong.status, wrong.text]).toEqual([200, '{"status":1}'])
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["user-1"])
    expect(receiver.stats()).toMatchObject({ droppedUnknownKey: 2, acceptedRequests: 1 })
  })

  it("errorFormat json: {status, code, error} bodies, 403 for a key naming no project, 413 for a payload too large", async () => {
    const receiver = await start({ errorFormat: "json", maxBatchBodyBytes: 10_000 })
    const wrong = await post(receiver.url, { api_key: "phc_other", batch: [event(1)] })
    expect([wrong.status, wrong.contentType, JSON.parse(wrong.text)]).toEqual([
      403,
      "application/json",
      { status: 403, code: "ingest_key_unknown", error: "api_key does not resolve to a known project" }
    ])
    const noName = await post(receiver.url, batch([{ ...event(1), event: "" }]))
    expect(JSON.parse(noName.text)).toEqual({ status: 400, code: "missing_event_name", error: "event submitted with an empty event name" })
    const bomb = gzipSync(Buffer.from(JSON.stringify(batch([event(1, { properties: { pad: "x".repeat(20_000) } })]))))
    const tooBig = await post(receiver.url, bomb, { headers: { "content-encoding": "gzip" } })
    expect([tooBig.status, JSON.parse(tooBig.text).code]).toEqual([413, "payload_too_large"])
    expect(receiver.rows).toEqual([])
  })
})

describe("posthog receiver: size limits", () => {
  it("413 above 20 MiB of body on /batch/; just under is taken", async () => {
    const receiver = await start()
    const limit = 20 * 1024 * 1024
    const padded = (bytes: number) => {
      const shell = JSON.stringify(batch([event(1, { properties: { pad: "" } })]))
      return shell.replace('"pad":""', `"pad":"${"x".repeat(bytes - shell.length)}"`)
    }
    const over = await post(receiver.url, padded(limit + 1))
    expect([over.status, over.text]).toEqual([413, "Failed to buffer the request body: length limit exceeded"])
    expect(receiver.rows).toEqual([])
    const at = padded(limit)
    expect(Buffer.byteLength(at)).toBe(limit)
    expect((await post(receiver.url, at)).status).toBe(200)
    expect(receiver.rows).toHaveLength(1)
  })

  it("2 MiB on the single-event routes; a gzipped body that decodes past the limit is 400 maximum event size exceeded", async () => {
    const receiver = await start()
    const big = JSON.stringify([{ ...event(1), token: KEY, properties: { pad: "x".repeat(2 * 1024 * 1024) } }])
    expect((await post(receiver.url, big, { path: "/i/v0/e/" })).status).toBe(413)
    expect((await post(receiver.url, big)).status).toBe(200)
    const bomb = gzipSync(Buffer.from(JSON.stringify(batch([event(2, { properties: { pad: "x".repeat(21 * 1024 * 1024) } })]))))
    expect(bomb.length).toBeLessThan(1024 * 1024)
    const answer = await post(receiver.url, bomb, { headers: { "content-encoding": "gzip" } })
    expect([answer.status, answer.text]).toEqual([400, "maximum event size exceeded"])
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["user-1"])
  })
})

describe("posthog receiver: raw and merged rows", () => {
  it("a resent batch doubles the raw rows and leaves the merged ones; the merge keeps the last copy", async () => {
    const receiver = await start()
    const events = [event(1), event(2), event(3)]
    await post(receiver.url, batch(events))
    await post(receiver.url, batch(events))
    expect(receiver.stats()).toMatchObject({ rawRows: 6, mergedRows: 3, duplicates: 3, conflictingDuplicates: 0, uniqueUuids: 3 })
    await post(receiver.url, batch([event(2, { properties: { $feature_flag: "new-ui", $feature_flag_response: "v3" } })]))
    expect(receiver.stats()).toMatchObject({ rawRows: 7, mergedRows: 3, duplicates: 4, conflictingDuplicates: 1 })
    expect(receiver.mergedRows().map((row) => [row.distinctId, row.properties["$feature_flag_response"], row.request])).toEqual([
      ["user-1", "v2", 1],
      ["user-2", "v3", 2],
      ["user-3", "v2", 1]
    ])
    expect(receiver.rows).toHaveLength(7)
  })

  it("the same uuid under another day, name or distinct_id is another row after merges", async () => {
    const receiver = await start()
    const nearMidnight = event(1, { timestamp: "2024-06-11T23:59:59.900Z" })
    // First send: the client's clock agrees with the server's, the event stays on the 11th.
    await post(receiver.url, batch([nearMidnight], { sent_at: "2024-06-12T00:00:00.500Z" }))
    // The retry's client clock is 1 s behind: capture moves the event 1 s later, onto the 12th.
    await post(receiver.url, batch([nearMidnight], { sent_at: "2024-06-11T23:59:59.500Z" }))
    await post(receiver.url, batch([event(1, { event: "other" })]))
    await post(receiver.url, batch([event(1, { distinct_id: "someone-else" })]))
    expect(receiver.rows.map((row) => row.day)).toEqual(["2024-06-11", "2024-06-12", "2024-06-11", "2024-06-11"])
    expect(receiver.stats()).toMatchObject({ rawRows: 4, mergedRows: 4, duplicates: 0, uniqueUuids: 1 })
  })

  it("keepRows false keeps the counts only", async () => {
    const receiver = await start({ keepRows: false })
    await post(receiver.url, batch([event(1), event(2)]))
    await post(receiver.url, batch([event(1)]))
    expect(receiver.rows).toEqual([])
    expect(receiver.requests).toEqual([])
    expect(receiver.mergedRows()).toEqual([])
    expect(receiver.stats()).toMatchObject({ rawRows: 3, mergedRows: 2, duplicates: 1 })
  })
})

describe("posthog receiver: historical_migration", () => {
  it("is recorded per request and per row, and counted", async () => {
    const receiver = await start()
    await post(receiver.url, batch([event(1)], { historical_migration: true }))
    await post(receiver.url, batch([event(2)], { historical_migration: false }))
    await post(receiver.url, batch([event(3)]))
    const refused = await post(receiver.url, batch([event(4)], { historical_migration: "yes" }))
    expect(refused.status).toBe(400)
    expect(receiver.requests.map((request) => request.historicalMigration)).toEqual([true, false, undefined, undefined])
    expect(receiver.rows.map((row) => [row.distinctId, row.historicalMigration])).toEqual([
      ["user-1", true],
      ["user-2", false],
      ["user-3", false]
    ])
    expect(receiver.stats()).toMatchObject({ historicalRequests: 1, historicalRows: 1, acceptedRequests: 3 })
  })
})

describe("posthog receiver: faults", () => {
  it("429: billing limit reached by default, rate limited on request, Retry-After only when asked; nothing stored", async () => {
    const receiver = await start()
    receiver.fault({ kind: "429" })
    receiver.fault({ kind: "429", reason: "rate", retryAfter: "7" })
    const billing = await post(receiver.url, batch([event(1)]))
    const rate = await post(receiver.url, batch([event(1)]))
    const next = await post(receiver.url, batch([event(2)]))
    expect([billing.status, billing.contentType, billing.text, billing.retryAfter]).toEqual([429, "text/plain; charset=utf-8", "billing limit reached", null])
    expect([rate.status, rate.text, rate.retryAfter]).toEqual([429, "rate limited", "7"])
    expect(next.status).toBe(200)
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["user-2"])
    expect(receiver.stats()).toMatchObject({ faults: 2, statuses: { "429": 2, "200": 1 } })
  })

  it("503 for the next count requests, then answers again", async () => {
    const receiver = await start()
    receiver.fault({ kind: "503" }, { count: 2 })
    const answers = [await post(receiver.url, batch([event(1)])), await post(receiver.url, batch([event(1)])), await post(receiver.url, batch([event(1)]))]
    expect(answers.map((answer) => [answer.status, answer.text])).toEqual([
      [503, "transient error, please retry"],
      [503, "transient error, please retry"],
      [200, '{"status":1}']
    ])
    expect(receiver.stats()).toMatchObject({ rawRows: 1, faults: 2 })
  })

  it("reset: the connection drops before the request is looked at, nothing stored", async () => {
    const receiver = await start()
    receiver.fault({ kind: "reset" })
    await expect(post(receiver.url, batch([event(1)]))).rejects.toThrow(TypeError)
    expect(receiver.rows).toEqual([])
    expect(receiver.requests).toMatchObject([{ fault: "reset", status: undefined, stored: 0 }])
    expect((await post(receiver.url, batch([event(2)]))).status).toBe(200)
  })

  it("resetAfterStore: the rows are stored, then the connection drops; the sender cannot tell", async () => {
    const receiver = await start()
    receiver.fault({ kind: "resetAfterStore" })
    await expect(post(receiver.url, batch([event(1), event(2)]))).rejects.toThrow(TypeError)
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["user-1", "user-2"])
    expect(receiver.requests).toMatchObject([{ fault: "resetAfterStore", status: undefined, stored: 2 }])
  })

  it("hang: reads the request and never answers, stores nothing, then answers the next one", async () => {
    const receiver = await start()
    receiver.fault({ kind: "hang" })
    const giveUp = AbortSignal.timeout(300)
    const outcome = await post(receiver.url, batch([event(1)]), { signal: giveUp }).then(
      (answer) => `answered ${answer.status}`,
      (error: Error) => error.name
    )
    expect(outcome).toBe("TimeoutError")
    expect((await post(receiver.url, batch([event(2)]))).status).toBe(200)
    expect(receiver.rows.map((row) => row.distinctId)).toEqual(["user-2"])
    expect(receiver.stats()).toMatchObject({ requests: 2, faults: 1, acceptedRequests: 1 })
  })

  it("seeded probability: the same seed plays the same faults; probability 0 plays none", async () => {
    const plan = { probability: 0.5, seed: 42, kinds: [{ kind: "503" } as const, { kind: "429" } as const] }
    const run = async (faults: NonNullable<PostHogReceiverOptions["faults"]>) => {
      const receiver = await start({ faults })
      const statuses: Array<number> = []
      for (let i = 0; i < 30; i++) statuses.push((await post(receiver.url, batch([event(i)]))).status)
      return { statuses, stored: receiver.stats().rawRows }
    }
    const first = await run(plan)
    const again = await run(plan)
    const other = await run({ ...plan, seed: 7 })
    expect(again).toEqual(first)
    expect(other.statuses).not.toEqual(first.statuses)
    expect(new Set(first.statuses)).toEqual(new Set([200, 429, 503]))
    expect(first.stored).toBe(first.statuses.filter((status) => status === 200).length)
    expect((await run({ ...plan, probability: 0 })).statuses.every((status) => status === 200)).toBe(true)
  })

  it("clearFaults drops the queued ones; a bad count is refused", async () => {
    const receiver = await start()
    receiver.fault({ kind: "503" }, { count: 3 })
    receiver.clearFaults()
    expect((await post(receiver.url, batch([event(1)]))).status).toBe(200)
    expect(() => receiver.fault({ kind: "503" }, { count: 1.5 })).toThrow(RangeError)
  })

  it("as a scoped Effect resource it stops when the scope closes", async () => {
    const url = await Effect.runPromise(Effect.scoped(Effect.map(postHogReceiver({ apiKey: KEY }), (receiver) => receiver.url)))
    await expect(fetch(`${url}/stats`)).rejects.toThrow(TypeError)
  })
})

describe("posthog receiver CLI", () => {
  it("runs as its own process: prints {url}, takes a batch, serves /stats, stops on SIGTERM", async () => {
    const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "dist", "posthog", "posthogReceiverCli.js")
    // The built file: run `tsc -b packages/testkit/tsconfig.json` first.
    expect(existsSync(cli)).toBe(true)
    const child = spawn(process.execPath, [cli, "--api-key", KEY], { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => void (stderr += String(chunk)))
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = ""
        child.stdout.on("data", (chunk: Buffer) => {
          out += String(chunk)
          if (out.includes("\n")) resolve(out.split("\n")[0]!)
        })
        child.once("exit", (code) => reject(new Error(`exited ${code}: ${stderr}`)))
      })
      const { url } = JSON.parse(line) as { url: string }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect((await post(url, batch([event(1), event(2)]))).status).toBe(200)
      expect((await post(url, batch([event(1)]))).status).toBe(200)
      expect((await post(url, { api_key: "phc_other", batch: [event(3)] })).status).toBe(401)
      const stats = (await (await fetch(`${url}/stats`)).json()) as Record<string, unknown>
      expect(stats).toMatchObject({ requests: 3, acceptedRequests: 2, rawRows: 3, mergedRows: 2, duplicates: 1, statuses: { "200": 2, "401": 1 } })
    } finally {
      child.kill("SIGTERM")
    }
    expect(await exited).toBe(0)
    expect(stderr).toBe("")
  })
})
