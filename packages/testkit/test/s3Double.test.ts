import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
  UploadPartCommand
} from "@aws-sdk/client-s3"
import { createHash, createHmac, randomBytes } from "node:crypto"
import { createRequire } from "node:module"
import { Readable } from "node:stream"
import { gzipSync } from "node:zlib"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type S3Double, startS3Double } from "../src/s3/index.js"

const BUCKET = "landing"
const HIVE_KEY = "env_id=abc/date=2026-12-03/part-0001.ndjson.gz"
const MiB = 1024 * 1024

let double: S3Double
beforeEach(async () => {
  double = await startS3Double({ buckets: [BUCKET] })
})
afterEach(async () => {
  await double.close()
})

const client = (overrides: Partial<S3ClientConfig> = {}) =>
  new S3Client({
    region: double.region,
    endpoint: double.url,
    forcePathStyle: true,
    credentials: double.credentials,
    requestChecksumCalculation: "WHEN_SUPPORTED",
    ...overrides
  })

interface SdkError {
  readonly name: string
  readonly message: string
  readonly $metadata?: { readonly httpStatusCode?: number }
  readonly code?: string
}

/** The error the promise fails with; a success fails the test. */
const failure = async (promise: Promise<unknown>): Promise<SdkError> => {
  try {
    await promise
  } catch (error) {
    return error as SdkError
  }
  throw new Error("expected the request to fail, it succeeded")
}

const expectS3Error = async (promise: Promise<unknown>, name: string, status: number) => {
  const error = await failure(promise)
  expect({ name: error.name, status: error.$metadata?.httpStatusCode }).toEqual({ name, status })
  return error
}

const md5 = (data: Buffer) => createHash("md5").update(data).digest()
const bodyOf = async (s3: S3Client, key: string) => {
  const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))
  return Buffer.from((await got.Body?.transformToByteArray()) ?? [])
}

describe("S3 double: objects", () => {
  it("puts, gets, heads and deletes a Hive-partitioned key, which arrives percent-encoded and is stored decoded", async () => {
    const s3 = client()
    const body = gzipSync(Buffer.from("{\"a\":1}\n{\"a\":2}\n"))
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: BUCKET,
        Key: HIVE_KEY,
        Body: body,
        ContentType: "application/x-ndjson",
        ContentEncoding: "gzip",
        Metadata: { rows: "2", "Source-Id": "clickhouse" }
      })
    )
    expect(put.ETag).toBe(`"${md5(body).toString("hex")}"`)

    const stored = double.objects(BUCKET).get(HIVE_KEY)
    expect(stored?.body.equals(body)).toBe(true)
    expect(stored?.contentType).toBe("application/x-ndjson")
    expect(stored?.contentEncoding).toBe("gzip")
    expect(stored?.metadata).toEqual({ rows: "2", "source-id": "clickhouse" })
    const putRequest = double.requests.find((r) => r.operation === "PutObject")
    expect(putRequest?.path).toBe("/landing/env_id%3Dabc/date%3D2026-12-03/part-0001.ndjson.gz")
    expect(putRequest?.key).toBe(HIVE_KEY)

    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY }))
    expect(Buffer.from((await got.Body?.transformToByteArray()) ?? []).equals(body)).toBe(true)
    expect(got.ContentType).toBe("application/x-ndjson")
    expect(got.Metadata).toEqual({ rows: "2", "source-id": "clickhouse" })
    expect(got.ETag).toBe(put.ETag)

    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY }))
    expect(head.ContentLength).toBe(body.length)
    expect(head.ETag).toBe(put.ETag)

    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY }))
    expect(deleted.$metadata.httpStatusCode).toBe(204)
    expect(double.objects(BUCKET).size).toBe(0)
    // HEAD has no body, so the SDK can only name the error after the status.
    await expectS3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY })), "NotFound", 404)
    await expectS3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY })), "NoSuchKey", 404)
  })

  it("decodes keys with spaces, plus signs, colons and non-ASCII characters", async () => {
    const s3 = client()
    const key = "odd keys/a+b c:d=é?#&.txt"
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "x" }))
    expect([...double.objects(BUCKET).keys()]).toEqual([key])
    expect((await bodyOf(s3, key)).toString()).toBe("x")
  })

  it("answers a missing bucket with NoSuchBucket, and creates buckets with CreateBucket", async () => {
    const s3 = client()
    const error = await expectS3Error(s3.send(new PutObjectCommand({ Bucket: "other", Key: "k", Body: "x" })), "NoSuchBucket", 404)
    expect(error.message).toBe("The specified bucket does not exist")
    await s3.send(new CreateBucketCommand({ Bucket: "other" }))
    await s3.send(new PutObjectCommand({ Bucket: "other", Key: "k", Body: "x" }))
    expect(double.objects("other").get("k")?.body.toString()).toBe("x")
    await expectS3Error(s3.send(new CreateBucketCommand({ Bucket: "other" })), "BucketAlreadyOwnedByYou", 409)
  })

  it("If-None-Match: * creates once and answers 412 PreconditionFailed after, leaving the first body", async () => {
    const s3 = client()
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY, Body: "first", IfNoneMatch: "*" }))
    await expectS3Error(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY, Body: "second", IfNoneMatch: "*" })),
      "PreconditionFailed",
      412
    )
    expect(double.objects(BUCKET).get(HIVE_KEY)?.body.toString()).toBe("first")
    expect(double.requests.at(-1)?.headers["if-none-match"]).toBe("*")
  })

  it("serves ranges", async () => {
    const s3 = client()
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "r", Body: "0123456789" }))
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "r", Range: "bytes=2-4" }))
    expect(await got.Body?.transformToString()).toBe("234")
    expect(got.ContentRange).toBe("bytes 2-4/10")
    const tail = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "r", Range: "bytes=-3" }))
    expect(await tail.Body?.transformToString()).toBe("789")
  })
})

describe("S3 double: bodies and checksums", () => {
  it("decodes an aws-chunked stream body with a trailing CRC32, and returns that CRC32 to the SDK's response check", async () => {
    const s3 = client()
    const body = randomBytes(200_000)
    const stream = Readable.from([body.subarray(0, 70_000), body.subarray(70_000)])
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "streamed", Body: stream, ContentLength: body.length }))
    const request = double.requests.find((r) => r.operation === "PutObject")
    expect(request?.headers["content-encoding"]).toBe("aws-chunked")
    expect(request?.headers["x-amz-content-sha256"]).toBe("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    expect(request?.headers["x-amz-trailer"]).toBe("x-amz-checksum-crc32")
    expect(request?.headers["x-amz-decoded-content-length"]).toBe(String(body.length))
    expect(request?.bodyBytes).toBeGreaterThan(body.length)

    const stored = double.objects(BUCKET).get("streamed")
    expect(stored?.body.equals(body)).toBe(true)
    expect(stored?.contentEncoding).toBeUndefined()
    expect(stored?.checksumCrc32).toMatch(/^[A-Za-z0-9+/]{6}==$/)

    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "streamed", ChecksumMode: "ENABLED" }))
    expect(got.ChecksumCRC32).toBe(stored?.checksumCrc32)
    expect(Buffer.from((await got.Body?.transformToByteArray()) ?? []).equals(body)).toBe(true)
  })

  it("answers a CRC32 that does not match the body with BadDigest and stores nothing", async () => {
    const s3 = client()
    await expectS3Error(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: "hello", ChecksumCRC32: "AAAAAA==" })),
      "BadDigest",
      400
    )
    expect(double.objects(BUCKET).size).toBe(0)
  })

  it("answers a body that does not match its signed x-amz-content-sha256 with XAmzContentSHA256Mismatch", async () => {
    const s3 = client()
    // After signing: the request leaves with the signed hash of "hello" but carries "jello".
    s3.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { body?: unknown }
        request.body = "jello"
        return next(args)
      },
      { step: "deserialize", name: "tamperBody" }
    )
    await expectS3Error(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: "hello", ChecksumAlgorithm: undefined })), "XAmzContentSHA256Mismatch", 400)
    expect(double.requests.at(-1)?.headers["x-amz-content-sha256"]).toBe(createHash("sha256").update("hello").digest("hex"))
    expect(double.objects(BUCKET).size).toBe(0)
  })
})

describe("S3 double: SigV4", () => {
  it("refuses a wrong secret with SignatureDoesNotMatch and an unknown key with InvalidAccessKeyId", async () => {
    const put = (s3: S3Client) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: "x" }))
    await expectS3Error(
      put(client({ credentials: { accessKeyId: double.credentials.accessKeyId, secretAccessKey: "not-the-secret" } })),
      "SignatureDoesNotMatch",
      403
    )
    await expectS3Error(
      put(client({ credentials: { accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: double.credentials.secretAccessKey } })),
      "InvalidAccessKeyId",
      403
    )
    await expectS3Error(put(client({ region: "eu-west-1" })), "AuthorizationHeaderMalformed", 400)
    expect(double.objects(BUCKET).size).toBe(0)
    await put(client())
    expect(double.objects(BUCKET).size).toBe(1)
  })

  it("refuses a request whose signed header changed after signing", async () => {
    const s3 = client()
    s3.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers: Record<string, string> }
        request.headers["content-type"] = "text/html"
        return next(args)
      },
      { step: "deserialize", name: "tamperHeader" }
    )
    await expectS3Error(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: "x", ContentType: "text/plain" })), "SignatureDoesNotMatch", 403)
  })

  it("refuses an x-amz-* header that rides along unsigned", async () => {
    const s3 = client()
    s3.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers: Record<string, string> }
        request.headers["x-amz-meta-late"] = "added after signing"
        return next(args)
      },
      { step: "deserialize", name: "addHeader" }
    )
    const error = await expectS3Error(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "k", Body: "x" })), "AccessDenied", 403)
    expect(error.message).toContain("x-amz-meta-late")
  })
})

/** The SDK's own signer, reached through client-s3 (testkit does not depend on it directly). */
const { SignatureV4 } = createRequire(createRequire(import.meta.url).resolve("@aws-sdk/client-s3"))("@smithy/signature-v4") as {
  SignatureV4: new (init: Record<string, unknown>) => {
    presign: (request: Record<string, unknown>, options: { expiresIn: number }) => Promise<{ path: string; query: Record<string, string> }>
  }
}
/** What the signer needs of a SHA-256: Node's, with the HMAC form when given a key. */
class NodeSha256 {
  private readonly hash
  constructor(secret?: string | Uint8Array) {
    this.hash = secret === undefined ? createHash("sha256") : createHmac("sha256", secret)
  }
  update(data: string | Uint8Array) {
    this.hash.update(data)
  }
  digest() {
    return Promise.resolve(new Uint8Array(this.hash.digest()))
  }
}

describe("S3 double: presigned URLs", () => {
  const presignedGet = async (key: string, secretAccessKey: string, expiresIn = 60) => {
    const signer = new SignatureV4({
      credentials: { accessKeyId: double.credentials.accessKeyId, secretAccessKey },
      region: double.region,
      service: "s3",
      sha256: NodeSha256,
      uriEscapePath: false
    })
    const url = new URL(double.url)
    const path = `/${BUCKET}/${key.split("/").map(encodeURIComponent).join("/")}`
    const signed = await signer.presign(
      { method: "GET", protocol: "http:", hostname: url.hostname, port: Number(url.port), path, query: {}, headers: { host: url.host, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } },
      { expiresIn }
    )
    return fetch(`${double.url}${signed.path}?${new URLSearchParams(signed.query).toString()}`)
  }

  it("serves a GET signed in the query, and refuses one signed with another secret", async () => {
    await client().send(new PutObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY, Body: "presigned" }))
    const good = await presignedGet(HIVE_KEY, double.credentials.secretAccessKey)
    expect([good.status, await good.text()]).toEqual([200, "presigned"])
    const bad = await presignedGet(HIVE_KEY, "wrong")
    expect(bad.status).toBe(403)
    expect(await bad.text()).toContain("<Code>SignatureDoesNotMatch</Code>")
  })
})

describe("S3 double: listing", () => {
  it("lists by prefix with sizes and ETags, in pages, and rolls keys up to common prefixes", async () => {
    const s3 = client()
    const keys = ["env_id=abc/date=2026-12-03/a", "env_id=abc/date=2026-12-03/b", "env_id=abc/date=2026-12-04/c", "env_id=xyz/date=2026-12-03/d"]
    for (const [i, key] of keys.entries()) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "x".repeat(i + 1) }))

    const abc = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "env_id=abc/" }))
    expect(abc.Contents?.map((c) => [c.Key, c.Size])).toEqual([
      [keys[0], 1],
      [keys[1], 2],
      [keys[2], 3]
    ])
    expect(abc.Contents?.[0]?.ETag).toBe(`"${md5(Buffer.from("x")).toString("hex")}"`)
    expect(abc.KeyCount).toBe(3)
    expect(abc.IsTruncated).toBe(false)

    const first = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 3 }))
    expect(first.IsTruncated).toBe(true)
    const second = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, MaxKeys: 3, ContinuationToken: first.NextContinuationToken }))
    expect([...(first.Contents ?? []), ...(second.Contents ?? [])].map((c) => c.Key)).toEqual(keys)
    expect(second.IsTruncated).toBe(false)

    const partitions = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: "/", MaxKeys: 1 }))
    expect(partitions.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["env_id=abc/"])
    const next = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Delimiter: "/", ContinuationToken: partitions.NextContinuationToken }))
    expect(next.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["env_id=xyz/"])
    expect(next.Contents ?? []).toEqual([])
  })
})

describe("S3 double: multipart uploads", () => {
  const upload = async (s3: S3Client, key: string, body: Buffer, partSize: number, ifNoneMatch?: string) => {
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ContentType: "application/vnd.apache.parquet" }))
    const uploadId = created.UploadId as string
    const parts: Array<{ PartNumber: number; ETag: string }> = []
    for (let offset = 0, n = 1; offset < body.length; offset += partSize, n++) {
      const part = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, PartNumber: n, Body: body.subarray(offset, offset + partSize) }))
      parts.push({ PartNumber: n, ETag: part.ETag as string })
    }
    const complete = () =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
          ...(ifNoneMatch === undefined ? {} : { IfNoneMatch: ifNoneMatch })
        })
      )
    return { uploadId, parts, complete }
  }

  it("assembles a 12 MiB body from 5 MiB parts, visible only once completed, with S3's multipart ETag", async () => {
    const s3 = client()
    const body = randomBytes(12 * MiB)
    const { uploadId, parts, complete } = await upload(s3, HIVE_KEY, body, 5 * MiB, "*")
    expect(parts.map((p) => p.ETag)).toEqual([0, 1, 2].map((i) => `"${md5(body.subarray(i * 5 * MiB, (i + 1) * 5 * MiB)).toString("hex")}"`))
    expect(double.objects(BUCKET).has(HIVE_KEY)).toBe(false)
    expect(double.uploadsInProgress(BUCKET)).toEqual([{ uploadId, key: HIVE_KEY, initiated: expect.any(Date), parts: [1, 2, 3] }])

    const done = await complete()
    const partMd5s = Buffer.concat([0, 1, 2].map((i) => md5(body.subarray(i * 5 * MiB, (i + 1) * 5 * MiB))))
    expect(done.ETag).toBe(`"${md5(partMd5s).toString("hex")}-3"`)
    expect(done.Key).toBe(HIVE_KEY)
    const stored = double.objects(BUCKET).get(HIVE_KEY)
    expect(stored?.body.equals(body)).toBe(true)
    expect(stored?.contentType).toBe("application/vnd.apache.parquet")
    expect(double.uploadsInProgress(BUCKET)).toEqual([])
    expect((await bodyOf(s3, HIVE_KEY)).equals(body)).toBe(true)
    expect(double.requests.find((r) => r.operation === "CompleteMultipartUpload")?.headers["if-none-match"]).toBe("*")
  })

  it("with If-None-Match: * a completion over an existing key is 412 and keeps nothing; the upload stays until aborted", async () => {
    const s3 = client()
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: HIVE_KEY, Body: "first" }))
    const { uploadId, complete } = await upload(s3, HIVE_KEY, randomBytes(6 * MiB), 5 * MiB, "*")
    await expectS3Error(complete(), "PreconditionFailed", 412)
    expect(double.objects(BUCKET).get(HIVE_KEY)?.body.toString()).toBe("first")
    expect(double.uploadsInProgress(BUCKET).map((u) => u.uploadId)).toEqual([uploadId])

    const aborted = await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: HIVE_KEY, UploadId: uploadId }))
    expect(aborted.$metadata.httpStatusCode).toBe(204)
    expect(double.uploadsInProgress(BUCKET)).toEqual([])
    await expectS3Error(s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: HIVE_KEY, UploadId: uploadId })), "NoSuchUpload", 404)
  })

  it("refuses parts under 5 MiB but the last with EntityTooSmall, and unknown uploads with NoSuchUpload", async () => {
    const s3 = client()
    const { complete } = await upload(s3, "small", randomBytes(3 * MiB), 1 * MiB)
    await expectS3Error(complete(), "EntityTooSmall", 400)
    expect(double.objects(BUCKET).size).toBe(0)
    await expectS3Error(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: "small", UploadId: "nope", MultipartUpload: { Parts: [{ PartNumber: 1, ETag: "\"x\"" }] } })),
      "NoSuchUpload",
      404
    )
    await expectS3Error(
      s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: "small", UploadId: "nope", PartNumber: 1, Body: "x" })),
      "NoSuchUpload",
      404
    )
  })

  it("refuses a part list naming a part with the wrong ETag", async () => {
    const s3 = client()
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "k" }))
    await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: "k", UploadId: created.UploadId, PartNumber: 1, Body: "x" }))
    await expectS3Error(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: "k", UploadId: created.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: "\"00\"" }] } })),
      "InvalidPart",
      400
    )
  })
})

describe("S3 double: scripted faults", () => {
  const put = (s3: S3Client, key = HIVE_KEY) => s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: "x", IfNoneMatch: "*" }))

  it("SlowDown arrives as a 503 named SlowDown without retries, and is retried away with them", async () => {
    double.fault({ operation: "PutObject" }, { kind: "error", status: 503, code: "SlowDown" })
    await expectS3Error(put(client({ maxAttempts: 1 })), "SlowDown", 503)
    expect(double.objects(BUCKET).size).toBe(0)

    double.fault({ operation: "PutObject", keyPrefix: "env_id=abc/" }, { kind: "error", status: 503, code: "SlowDown" })
    await put(client({ maxAttempts: 3 }))
    expect(double.objects(BUCKET).get(HIVE_KEY)?.body.toString()).toBe("x")
    expect(double.requests.map((r) => [r.operation, r.status, r.errorCode, r.fault])).toEqual([
      ["PutObject", 503, "SlowDown", "error"],
      ["PutObject", 503, "SlowDown", "error"],
      ["PutObject", 200, undefined, undefined]
    ])
  })

  it("plays InternalError and RequestTimeout on the next N matching requests only", async () => {
    const s3 = client({ maxAttempts: 1 })
    double.fault({ operation: "PutObject", count: 2 }, { status: 500, code: "InternalError" })
    double.fault({ operation: "PutObject" }, { status: 400, code: "RequestTimeout" })
    await expectS3Error(put(s3, "a"), "InternalError", 500)
    await expectS3Error(put(s3, "a"), "InternalError", 500)
    await expectS3Error(put(s3, "a"), "RequestTimeout", 400)
    await put(s3, "a")
    expect([...double.objects(BUCKET).keys()]).toEqual(["a"])
  })

  it("perKey counts each key's tries on its own: every object's first N tries fail, in any interleaving", async () => {
    const s3 = client({ maxAttempts: 1 })
    double.fault({ operation: "PutObject", count: 2, perKey: true }, { status: 503, code: "SlowDown" })
    await expectS3Error(put(s3, "a"), "SlowDown", 503)
    await expectS3Error(put(s3, "b"), "SlowDown", 503)
    await expectS3Error(put(s3, "a"), "SlowDown", 503)
    await put(s3, "a")
    await expectS3Error(put(s3, "b"), "SlowDown", 503)
    await put(s3, "b")
    await expectS3Error(put(s3, "c"), "SlowDown", 503)
    expect([...double.objects(BUCKET).keys()].sort()).toEqual(["a", "b"])
  })

  it("a fault on one operation or prefix leaves the others alone", async () => {
    const s3 = client({ maxAttempts: 1 })
    double.fault({ operation: "UploadPart", count: Infinity }, { status: 503, code: "SlowDown" })
    double.fault({ keyPrefix: "env_id=xyz/", count: Infinity }, { status: 500, code: "InternalError" })
    await put(s3, "env_id=abc/k")
    await expectS3Error(put(s3, "env_id=xyz/k"), "InternalError", 500)
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "env_id=abc/m" }))
    await expectS3Error(s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: "env_id=abc/m", UploadId: created.UploadId, PartNumber: 1, Body: "x" })), "SlowDown", 503)
    double.clearFaults()
    await put(s3, "env_id=xyz/k")
    expect([...double.objects(BUCKET).keys()].sort()).toEqual(["env_id=abc/k", "env_id=xyz/k"])
  })

  it("reset destroys the connection unanswered and stores nothing, also in the middle of a body", async () => {
    const s3 = client({ maxAttempts: 1 })
    double.fault({ operation: "PutObject" }, { kind: "reset" })
    const error = await failure(put(s3))
    expect(error.$metadata?.httpStatusCode).toBeUndefined()
    expect(double.objects(BUCKET).size).toBe(0)

    double.fault({ operation: "PutObject" }, { kind: "reset", afterBodyBytes: 64 * 1024 })
    const body = randomBytes(4 * MiB)
    await failure(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "big", Body: Readable.from([body]), ContentLength: body.length })))
    expect(double.objects(BUCKET).size).toBe(0)
    expect(double.requests.map((r) => [r.operation, r.status, r.fault])).toEqual([
      ["PutObject", 0, "reset"],
      ["PutObject", 0, "reset"]
    ])
    expect(double.requests[1]?.bodyBytes).toBeLessThan(body.length)
  })

  it("resetAfterApply creates the object but loses the answer: the create-only retry then meets 412", async () => {
    const s3 = client({ maxAttempts: 1 })
    double.fault({ operation: "PutObject" }, { kind: "resetAfterApply" })
    await failure(put(s3))
    expect(double.objects(BUCKET).get(HIVE_KEY)?.body.toString()).toBe("x")
    await expectS3Error(put(s3), "PreconditionFailed", 412)
  })

  it("delay holds the answer; a client that gives up meanwhile still finds the object created", async () => {
    const s3 = client({ maxAttempts: 1 })
    double.fault({ operation: "PutObject" }, { kind: "delay", ms: 400 })
    const started = Date.now()
    await put(s3, "slow")
    expect(Date.now() - started).toBeGreaterThanOrEqual(390)

    double.fault({ operation: "PutObject" }, { kind: "delay", ms: 300 })
    const error = await failure(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: "timed-out", Body: "x" }), { abortSignal: AbortSignal.timeout(50) }))
    expect(error.name).toBe("AbortError")
    expect(double.objects(BUCKET).has("timed-out")).toBe(false)
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(double.objects(BUCKET).has("timed-out")).toBe(true)
  })
})
