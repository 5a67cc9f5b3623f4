import { type ExportEvent, SinkError } from "@featbit-export/core"
import { readParquet } from "@featbit-export/object-storage"
import { S3Sink, classify } from "@featbit-export/sink-s3"
import { type S3Double, startS3Double } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import * as net from "node:net"
import { gunzipSync } from "node:zlib"
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { doubleConfig, freshBucket, openSink, run, sampleEvents } from "./support.js"

let double: S3Double
beforeAll(async () => {
  double = await startS3Double()
})
beforeEach(() => double.clearFaults())
afterAll(() => double.close())

const idsOfNdjson = (body: Buffer) => gunzipSync(body).toString("utf8").trimEnd().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)
const failureOf = async (effect: Effect.Effect<unknown, SinkError, never>) => {
  const outcome = await Effect.runPromise(Effect.either(effect))
  if (Either.isRight(outcome)) throw new Error("expected a failure")
  return outcome.left
}
const requestsSince = (from: number) => double.requests.slice(from)

/** Events big enough (incompressible properties) that one object of them is over the single-PUT size: about 12 MiB gzipped. */
const bigEvents = (seed: number): Array<ExportEvent> => {
  const events = sampleEvents(40, seed)
  const day = events[0]!.timestamp.slice(0, 11)
  return events.map((event, i) => ({ ...event, envId: "env-big", timestamp: `${day}${String(i % 24).padStart(2, "0")}${event.timestamp.slice(13)}`, properties: { blob: randomBytes(220_000).toString("base64") } })) as unknown as Array<ExportEvent>
}

describe("sink-s3 writes", () => {
  it("writes each environment and date as one Parquet object, read back whole; a replayed batch is refused by If-None-Match and changes nothing", async () => {
    const bucket = freshBucket(double)
    const events = sampleEvents(20_000, 71)
    const config = doubleConfig(double, bucket)
    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 })))
    const first = new Map([...double.objects(bucket)].map(([key, object]) => [key, object]))
    const pairs = new Set(events.map((event) => `env_id=${event.envId}/date=${event.timestamp.slice(0, 10)}/`))
    expect(first.size).toBe(pairs.size)
    const envOf = new Map(events.map((event) => [event.id, event.envId]))
    const ids: Array<string> = []
    for (const [key, object] of first) {
      expect(key).toMatch(/^featbit\/events\/env_id=[^/]+\/date=\d{4}-\d{2}-\d{2}\/\d{8}T\d{12}Z-\d{8}T\d{12}Z-[0-9a-f]{16}\.parquet$/)
      expect(object.contentType).toBe("application/vnd.apache.parquet")
      const rows = await readParquet(object.body, "id")
      const inObject = rows.map((row) => String(row["id"]))
      expect(new Set(inObject.map((id) => envOf.get(id)))).toEqual(new Set([decodeURIComponent(key.split("env_id=")[1]!.split("/")[0]!)]))
      ids.push(...inObject)
    }
    expect(ids.sort()).toEqual(events.map((event) => event.id).sort())
    // Every PUT was create-only.
    expect(double.requests.filter((request) => request.operation === "PutObject" && request.bucket === bucket).every((request) => request.headers["if-none-match"] === "*")).toBe(true)

    // A retry, or a replay after a restart: the same events, in another order. S3 answers 412 to each PUT.
    const from = double.requests.length
    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events: [...events].reverse(), sequence: 0 })))
    const puts = requestsSince(from).filter((request) => request.operation === "PutObject")
    expect(puts.map((request) => [request.status, request.errorCode])).toEqual(puts.map(() => [412, "PreconditionFailed"]))
    expect(puts.length).toBe(first.size)
    const again = double.objects(bucket)
    expect([...again.keys()].sort()).toEqual([...first.keys()].sort())
    for (const [key, object] of again) expect(object.etag).toBe(first.get(key)!.etag)
  })

  it("sends an object over 8 MiB as a multipart upload completed create-only, holding every line; a replay aborts its upload", async () => {
    const bucket = freshBucket(double)
    const events = bigEvents(72)
    const config = doubleConfig(double, bucket, { format: "ndjson" })
    const from = double.requests.length
    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 })))
    const objects = double.objects(bucket)
    expect(objects.size).toBe(1)
    const [object] = [...objects.values()]
    expect(object!.body.length).toBeGreaterThan(8 * 1024 * 1024)
    expect(object!.etag).toMatch(/-2"$/)
    expect(idsOfNdjson(object!.body)).toEqual(events.map((event) => event.id))
    const operations = requestsSince(from).map((request) => request.operation)
    expect(operations.filter((operation) => operation === "UploadPart").length).toBe(2)
    expect(operations.filter((operation) => operation === "PutObject").length).toBe(0)
    expect(requestsSince(from).find((request) => request.operation === "CompleteMultipartUpload")!.headers["if-none-match"]).toBe("*")

    const replay = double.requests.length
    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 })))
    const complete = requestsSince(replay).find((request) => request.operation === "CompleteMultipartUpload")!
    expect([complete.status, complete.errorCode]).toEqual([412, "PreconditionFailed"])
    expect(requestsSince(replay).filter((request) => request.operation === "AbortMultipartUpload").map((request) => request.status)).toEqual([204])
    expect(double.uploadsInProgress(bucket)).toEqual([])
    expect(double.objects(bucket).get([...objects.keys()][0]!)!.etag).toBe(object!.etag)
  })

  it("aborts a multipart upload whose part fails, leaving no object and no parts; the retry completes it", async () => {
    const bucket = freshBucket(double)
    const events = bigEvents(73)
    const config = doubleConfig(double, bucket, { format: "ndjson" })
    double.fault({ operation: "UploadPart", bucket, count: 1 }, { kind: "reset", afterBodyBytes: 64 * 1024 })
    const error = await failureOf(Effect.scoped(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 }))))
    expect(error.retryable).toBe(true)
    expect(error.message).toMatch(/uploading part \d of 2 of featbit\/events\/env_id=env-big\//)
    expect(double.objects(bucket).size).toBe(0)
    expect(double.uploadsInProgress(bucket)).toEqual([])
    expect(double.requests.some((request) => request.bucket === bucket && request.operation === "AbortMultipartUpload" && request.status === 204)).toBe(true)

    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 })))
    expect(idsOfNdjson([...double.objects(bucket).values()][0]!.body)).toEqual(events.map((event) => event.id))
  })

  it("a PUT stored but unanswered (connection lost after S3 applied it) is retried: 412 tells the retry it is there", async () => {
    const bucket = freshBucket(double)
    const events = sampleEvents(2_000, 74).map((event) => ({ ...event, envId: "env-one", timestamp: `${event.timestamp.slice(0, 10)}T00:00:00.000000Z` })) as Array<ExportEvent>
    double.fault({ operation: "PutObject", bucket, count: 1 }, { kind: "resetAfterApply" })
    const config = doubleConfig(double, bucket, { format: "ndjson" })
    const error = await failureOf(Effect.scoped(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 }))))
    expect(error.retryable).toBe(true)
    expect(double.objects(bucket).size).toBe(1)
    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 })))
    expect(double.requests.filter((request) => request.bucket === bucket && request.operation === "PutObject").map((request) => request.status)).toEqual([0, 412])
    expect(idsOfNdjson([...double.objects(bucket).values()][0]!.body)).toEqual(events.map((event) => event.id))
  })

  it("SlowDown and InternalError are transient; a request over requestTimeout is transient and says so", async () => {
    const bucket = freshBucket(double)
    const write = (extra: Record<string, unknown> = {}) => failureOf(Effect.scoped(Effect.flatMap(openSink(doubleConfig(double, bucket, extra)), (sink) => sink.write({ events: sampleEvents(50, 75), sequence: 0 }))))
    double.fault({ operation: "PutObject", bucket, count: Infinity }, { status: 503, code: "SlowDown", message: "Please reduce your request rate." })
    const slow = await write()
    expect([slow.retryable, slow.message]).toEqual([true, expect.stringMatching(/503 SlowDown: Please reduce your request rate/)])
    double.clearFaults()
    double.fault({ operation: "PutObject", bucket, count: Infinity }, { status: 500, code: "InternalError" })
    expect((await write()).retryable).toBe(true)
    double.clearFaults()
    double.fault({ operation: "PutObject", bucket, count: Infinity }, { kind: "delay", ms: 1_500 })
    const late = await write({ requestTimeout: "300ms" })
    expect([late.retryable, late.message]).toEqual([true, expect.stringMatching(/did not answer in time .* \(requestTimeout\)/)])
  })

  it("says what to fix for a wrong secret, an unknown key or a missing bucket, without the secret in any encoding", async () => {
    const bucket = freshBucket(double)
    const wrongSecret = randomBytes(30).toString("base64")
    const write = (config: Record<string, unknown>) => failureOf(Effect.scoped(Effect.flatMap(openSink(config), (sink) => sink.write({ events: sampleEvents(10, 76), sequence: 0 }))))
    const denied = await write(doubleConfig(double, bucket, { secretAccessKey: wrongSecret }))
    expect([denied.retryable, denied.message]).toEqual([false, expect.stringMatching(/refused the signature \(SignatureDoesNotMatch\); fix secretAccessKey/)])
    for (const form of [wrongSecret, encodeURIComponent(wrongSecret), Buffer.from(wrongSecret).toString("base64")]) expect(denied.message).not.toContain(form)
    const unknown = await write(doubleConfig(double, bucket, { accessKeyId: "AKIANOTAKNOWNKEY0000" }))
    expect([unknown.retryable, unknown.message]).toEqual([false, expect.stringMatching(/does not know the access key \(InvalidAccessKeyId\); fix accessKeyId/)])
    const missing = await write(doubleConfig(double, "no-such-bucket"))
    expect([missing.retryable, missing.message]).toEqual([false, expect.stringMatching(/bucket no-such-bucket does not exist; create it \(aws s3 mb s3:\/\/no-such-bucket\) or fix bucket/)])
  })

  it("a refused connection is transient; an error that is no answer from S3 at all is fatal, not retried forever", async () => {
    const closed = net.createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as net.AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const refused = await failureOf(
      Effect.scoped(Effect.flatMap(openSink({ ...doubleConfig(double, "any-bucket"), endpoint: `http://127.0.0.1:${port}` }), (sink) => sink.write({ events: sampleEvents(5, 77), sequence: 0 })))
    )
    expect([refused.retryable, refused.message]).toEqual([true, expect.stringMatching(/no answer ECONNREFUSED/)])
    const bug = classify(new TypeError("Cannot read properties of undefined (reading 'length')"), { where: "s3://b", bucket: "b", secrets: [] }, "uploading k")
    expect([bug.retryable, bug.message]).toEqual([false, expect.stringMatching(/unexpected failure while uploading k .* report it/)])
  })

  it("check confirms the bucket and a write and delete of a probe, leaving nothing behind; with a wrong secret it says so", async () => {
    const bucket = freshBucket(double)
    const said = await run(Effect.flatMap(openSink(doubleConfig(double, bucket, { prefix: "landing" })), (sink) => sink.check!))
    expect(said[0]).toMatch(new RegExp(`bucket ${bucket} exists and the credentials are accepted`))
    expect(said[1]).toMatch(/wrote and deleted a probe object under landing\//)
    expect(double.objects(bucket).size).toBe(0)
    const denied = await failureOf(Effect.scoped(Effect.flatMap(openSink(doubleConfig(double, bucket, { secretAccessKey: "wrong-secret-wrong-secret" })), (sink) => sink.check!)))
    expect(denied.message).toMatch(/SignatureDoesNotMatch/)
    double.fault({ operation: "PutObject", bucket, count: 1 }, { kind: "delay", ms: 2_000 })
    const hung = await failureOf(Effect.scoped(Effect.flatMap(openSink(doubleConfig(double, bucket, { requestTimeout: "300ms" })), (sink) => sink.check!)))
    expect(hung.message).toMatch(/did not answer in time while writing the probe object/)
  })

  it("render shows preview the partition each event goes to and the file's columns, without env_id (the path holds it)", () => {
    const [event] = sampleEvents(1, 78)
    const shown = S3Sink.render!(Schema.decodeUnknownSync(S3Sink.config)({ bucket: "landing", prefix: "/lake/featbit/" }))(event!) as Record<string, unknown>
    expect(shown["partition"]).toBe(`lake/featbit/env_id=${encodeURIComponent(event!.envId)}/date=${event!.timestamp.slice(0, 10)}/`)
    expect([shown["id"], shown["user_key"]]).toEqual([event!.id, event!.user.keyId])
    expect(Object.keys(shown)).not.toContain("env_id")
  })

  it("refuses half a key pair or a bad bucket name before anything runs", () => {
    const issues = (config: Record<string, unknown>) => S3Sink.configIssues!(Schema.decodeUnknownSync(S3Sink.config)(config))
    expect(issues({ bucket: "landing", accessKeyId: "AKIA" })[0]!.message).toMatch(/accessKeyId and secretAccessKey together/)
    expect(issues({ bucket: "landing", secretAccessKey: "s" })[0]!.path).toEqual(["accessKeyId"])
    expect(issues({ bucket: "landing", sessionToken: "t" })[0]!.message).toMatch(/sessionToken goes with/)
    expect(issues({ bucket: "landing" })).toEqual([])
    const badName = Schema.decodeUnknownEither(S3Sink.config)({ bucket: "s3://landing/events" })
    expect(Either.isLeft(badName) && String(badName.left.message)).toMatch(/a bucket name is 3 to 63 lower-case letters/)
  })
})
