import { createHash, randomBytes } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { crc32 } from "node:zlib"
import { STREAMING_PAYLOADS, UNSIGNED_PAYLOAD, sha256Hex, verifySigV4 } from "./SigV4.js"

/** The S3 operations the double tells apart; anything else is answered 501 `NotImplemented`. */
export type S3Operation =
  | "ListBuckets"
  | "CreateBucket"
  | "HeadBucket"
  | "DeleteBucket"
  | "ListObjectsV2"
  | "PutObject"
  | "GetObject"
  | "HeadObject"
  | "DeleteObject"
  | "CreateMultipartUpload"
  | "UploadPart"
  | "CompleteMultipartUpload"
  | "AbortMultipartUpload"
  | "Unsupported"

/** An object as the double holds it: only whole, verified bodies ever get here. */
export interface S3StoredObject {
  readonly body: Buffer
  /** Quoted, as S3 sends it: `"<md5>"`, or `"<md5 of the part md5s>-<parts>"` for a multipart object. */
  readonly etag: string
  readonly contentType: string
  /** `Content-Encoding` as stored, without the `aws-chunked` transfer framing; undefined when none was sent. */
  readonly contentEncoding: string | undefined
  /** `x-amz-meta-*` headers, names lowercased and without the prefix. */
  readonly metadata: Readonly<Record<string, string>>
  readonly lastModified: Date
  /** The CRC32 (base64) the writer sent and the double verified, undefined when none was sent. */
  readonly checksumCrc32: string | undefined
}

export interface S3UploadInProgress {
  readonly uploadId: string
  readonly key: string
  readonly initiated: Date
  /** The part numbers received so far, ascending. */
  readonly parts: ReadonlyArray<number>
}

/** One request as the double saw and answered it. */
export interface S3RequestRecord {
  readonly method: string
  /** The path as sent, percent-encoded. */
  readonly path: string
  readonly bucket: string | undefined
  /** Decoded (`env_id%3Dabc` arrives, `env_id=abc` is recorded). */
  readonly key: string | undefined
  readonly query: Readonly<Record<string, string>>
  readonly operation: S3Operation
  /** 0 when the connection was destroyed without an answer. */
  readonly status: number
  /** The S3 error code answered, if any. */
  readonly errorCode: string | undefined
  /** The scripted fault played on this request, if any. */
  readonly fault: S3Fault["kind"] | undefined
  /** Request headers as received (lowercase names), to see what the SDK sends. */
  readonly headers: Readonly<Record<string, string>>
  /** Body bytes as received on the wire (before aws-chunked decoding). */
  readonly bodyBytes: number
}

/**
 * A fault played instead of (or before) the normal answer. Faults that answer read the whole request body
 * first, as S3 does, so that the client sees the answer rather than a broken pipe.
 */
export type S3Fault =
  /** Answered with this status and S3 error code (`SlowDown` 503, `InternalError` 500, `RequestTimeout` 400, ...); nothing is applied. */
  | { readonly kind?: "error"; readonly status: number; readonly code: string; readonly message?: string }
  /**
   * The connection is destroyed without an answer and nothing is applied: at once, or after `afterBodyBytes`
   * bytes of the body have arrived (a connection lost mid-upload).
   */
  | { readonly kind: "reset"; readonly afterBodyBytes?: number }
  /** The request takes effect, then the connection is destroyed before the answer: the client never learns it succeeded. */
  | { readonly kind: "resetAfterApply" }
  /**
   * The answer waits this long after the body has arrived. The request is applied even if the client gave up
   * meanwhile, as S3 does once it has the whole body: a timed-out create may still have created the object.
   */
  | { readonly kind: "delay"; readonly ms: number }

/** Which requests a fault is played on. Every given field must match. */
export interface S3FaultMatch {
  readonly operation?: S3Operation | ReadonlyArray<S3Operation>
  readonly bucket?: string
  readonly keyPrefix?: string
  /** How many of the next matching requests get the fault (default 1; `Infinity` for all). */
  readonly count?: number
  /**
   * Count per key instead of in all: the first `count` tries of every object fail, as a throttled prefix refuses
   * each retry a few times. Without it, parallel uploads of one batch share the count.
   */
  readonly perKey?: boolean
}

export interface S3DoubleOptions {
  /** Buckets that exist from the start. */
  readonly buckets?: ReadonlyArray<string>
  /** Default `us-east-1`: signatures scoped to another region are refused. */
  readonly region?: string
  /** Default: a fixed access key id and a random secret. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string }
  /** 0 (default): any free port. */
  readonly port?: number
  /** Default `127.0.0.1`. */
  readonly host?: string
  /** S3's 5 MiB minimum for every part but the last; smaller makes multipart tests cheaper. */
  readonly minPartSize?: number
}

export interface S3Double {
  /** The endpoint, for `new S3Client({ endpoint, forcePathStyle: true })`. */
  readonly url: string
  readonly port: number
  readonly region: string
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }
  /** The bucket's objects by key, a snapshot; throws for a bucket that does not exist. */
  readonly objects: (bucket: string) => ReadonlyMap<string, S3StoredObject>
  /** Every request in arrival order, recorded when it was answered (or reset). */
  readonly requests: ReadonlyArray<S3RequestRecord>
  /** Multipart uploads created and neither completed nor aborted. */
  readonly uploadsInProgress: (bucket: string) => ReadonlyArray<S3UploadInProgress>
  /** Plays `fault` on the next `match.count` requests that match. Scripted faults are tried in the order given. */
  readonly fault: (match: S3FaultMatch, fault: S3Fault) => void
  /** Drops the faults not yet played. */
  readonly clearFaults: () => void
  readonly createBucket: (bucket: string) => void
  readonly close: () => Promise<void>
}

export const S3_MIN_PART_SIZE = 5 * 1024 * 1024
const MAX_PART_NUMBER = 10_000
const DEFAULT_ACCESS_KEY_ID = "AKIAS3DOUBLETESTKEY0"
const XML_NS = "http://s3.amazonaws.com/doc/2006-03-01/"

class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

const escapeXml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&apos;" })[c] ?? c)

const unescapeXml = (value: string): string =>
  value
    .replace(/&quot;/g, "\"")
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-fA-F]+);/g, (_, n: string) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&amp;/g, "&")

const xml = (body: string): string => `<?xml version="1.0" encoding="UTF-8"?>\n${body}`
const md5 = (data: Buffer): Buffer => createHash("md5").update(data).digest()

interface Route {
  readonly operation: S3Operation
  readonly bucket: string | undefined
  readonly key: string | undefined
}

/**
 * Query parameters that do not change the operation: the SDK's `x-id=PutObject` tag, presigned-URL
 * signing, and GetObject's `response-*` header overrides (which the double ignores).
 */
const neutral = (name: string): boolean => name === "x-id" || /^x-amz-/i.test(name) || name.startsWith("response-")

/** Path-style addressing only: `/<bucket>/<key>`, the key percent-decoded (the SDK encodes `=`, `:`, spaces, ...). */
const route = (method: string, rawPath: string, fullQuery: URLSearchParams, copySource: boolean): Route => {
  const query = new URLSearchParams([...fullQuery].filter(([name]) => !neutral(name)))
  const slash = rawPath.indexOf("/", 1)
  const bucketPart = slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash)
  const keyPart = slash < 0 ? "" : rawPath.slice(slash + 1)
  const bucket = bucketPart === "" ? undefined : decodeURIComponent(bucketPart)
  const key = keyPart === "" ? undefined : decodeURIComponent(keyPart)
  const on = (operation: S3Operation): Route => ({ operation, bucket, key })
  if (bucket === undefined) return on(method === "GET" ? "ListBuckets" : "Unsupported")
  if (key === undefined) {
    if (method === "PUT" && query.size === 0) return on("CreateBucket")
    if (method === "HEAD") return on("HeadBucket")
    if (method === "DELETE") return on("DeleteBucket")
    if (method === "GET" && query.get("list-type") === "2") return on("ListObjectsV2")
    return on("Unsupported")
  }
  if (method === "PUT") {
    // CopyObject and UploadPartCopy carry no body: taken for a put they would store an empty object.
    if (copySource) return on("Unsupported")
    if (query.has("uploadId") || query.has("partNumber")) return on("UploadPart")
    // Tagging, ACLs and the like are not simulated: better a loud 501 than a silent PutObject.
    return on(query.size === 0 ? "PutObject" : "Unsupported")
  }
  // partNumber (one part of a multipart object) is not simulated either.
  if (method === "GET") return on(query.size === 0 ? "GetObject" : "Unsupported")
  if (method === "HEAD") return on("HeadObject")
  if (method === "DELETE") return on(query.has("uploadId") ? "AbortMultipartUpload" : "DeleteObject")
  if (method === "POST" && query.has("uploads")) return on("CreateMultipartUpload")
  if (method === "POST" && query.has("uploadId")) return on("CompleteMultipartUpload")
  return on("Unsupported")
}

/**
 * Undoes aws-chunked framing: `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n` chunks, a zero-size
 * chunk, then trailer lines (`x-amz-checksum-crc32:<base64>`) and an empty line. Chunk signatures are not
 * checked (the JavaScript SDK sends unsigned chunks with a trailing checksum).
 */
const decodeAwsChunked = (raw: Buffer): { body: Buffer; trailers: Map<string, string> } => {
  const chunks: Array<Buffer> = []
  const trailers = new Map<string, string>()
  let at = 0
  const line = (): string => {
    const end = raw.indexOf("\r\n", at)
    if (end < 0) throw new S3Error(400, "IncompleteBody", "The aws-chunked body ends in the middle of a line")
    const text = raw.subarray(at, end).toString("latin1")
    at = end + 2
    return text
  }
  for (;;) {
    const header = line()
    const size = parseInt(header.split(";")[0] ?? "", 16)
    if (!Number.isInteger(size) || size < 0) throw new S3Error(400, "InvalidChunkSizeError", `Bad aws-chunked chunk header: ${header}`)
    if (size === 0) break
    if (at + size + 2 > raw.length) throw new S3Error(400, "IncompleteBody", "The aws-chunked body ends inside a chunk")
    chunks.push(raw.subarray(at, at + size))
    at += size
    if (raw.subarray(at, at + 2).toString("latin1") !== "\r\n") throw new S3Error(400, "IncompleteBody", "An aws-chunked chunk is not followed by CRLF")
    at += 2
  }
  // Trailers run to an empty line; a body cut right after the last chunk has none.
  while (at < raw.length) {
    const trailer = line()
    if (trailer === "") break
    const colon = trailer.indexOf(":")
    if (colon > 0) trailers.set(trailer.slice(0, colon).trim().toLowerCase(), trailer.slice(colon + 1).trim())
  }
  return { body: Buffer.concat(chunks), trailers }
}

const crc32Base64 = (data: Buffer): string => {
  const out = Buffer.alloc(4)
  out.writeUInt32BE(crc32(data) >>> 0)
  return out.toString("base64")
}

/** The checksums the double can compute; CRC32C and CRC64NVME are accepted unchecked (Node has neither). */
const checksums: ReadonlyArray<readonly [string, string, (data: Buffer) => string]> = [
  ["x-amz-checksum-crc32", "CRC32", crc32Base64],
  ["x-amz-checksum-sha1", "SHA1", (data) => createHash("sha1").update(data).digest("base64")],
  ["x-amz-checksum-sha256", "SHA256", (data) => createHash("sha256").update(data).digest("base64")]
]

interface ReceivedBody {
  readonly body: Buffer
  /** The CRC32 the writer sent (header or trailer) and that matched. */
  readonly crc32: string | undefined
}

/**
 * The body as the application sent it, after every integrity check S3 makes: the signed payload hash, the
 * aws-chunked framing and its decoded length, Content-MD5 and the flexible checksums (header or trailer).
 */
const checkBody = (headers: http.IncomingHttpHeaders, payloadHash: string, raw: Buffer): ReceivedBody => {
  if (payloadHash !== UNSIGNED_PAYLOAD && !STREAMING_PAYLOADS.has(payloadHash)) {
    if (!/^[0-9a-f]{64}$/.test(payloadHash)) throw new S3Error(400, "InvalidArgument", `x-amz-content-sha256 must be a SHA-256 hex digest, UNSIGNED-PAYLOAD or a STREAMING- value, not ${payloadHash}`)
    if (sha256Hex(raw) !== payloadHash) {
      throw new S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
    }
  }
  const encodings = (headers["content-encoding"] ?? "").split(",").map((e) => e.trim().toLowerCase())
  const chunked = encodings.includes("aws-chunked") || STREAMING_PAYLOADS.has(payloadHash)
  let body = raw
  let trailers = new Map<string, string>()
  if (chunked) {
    ;({ body, trailers } = decodeAwsChunked(raw))
    const declared = headers["x-amz-decoded-content-length"]
    if (declared === undefined) throw new S3Error(411, "MissingContentLength", "aws-chunked requires x-amz-decoded-content-length")
    if (Number(declared) !== body.length) {
      throw new S3Error(400, "IncompleteBody", `x-amz-decoded-content-length is ${declared} but the chunks carry ${body.length} bytes`)
    }
    const announced = String(headers["x-amz-trailer"] ?? "").split(",").map((t) => t.trim().toLowerCase()).filter((t) => t !== "")
    for (const name of announced) {
      if (!trailers.has(name)) throw new S3Error(400, "MalformedTrailerError", `The trailer ${name} announced in x-amz-trailer did not arrive`)
    }
  }
  const contentMd5 = headers["content-md5"]
  if (contentMd5 !== undefined && md5(body).toString("base64") !== contentMd5) {
    throw new S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
  }
  let crc: string | undefined
  for (const [name, label, compute] of checksums) {
    const header = headers[name]
    const sent = typeof header === "string" ? header : trailers.get(name)
    if (sent === undefined) continue
    if (compute(body) !== sent) throw new S3Error(400, "BadDigest", `The ${label} you specified did not match the calculated checksum.`)
    if (label === "CRC32") crc = sent
  }
  return { body, crc32: crc }
}

interface Bucket {
  readonly objects: Map<string, S3StoredObject>
  readonly uploads: Map<string, Upload>
}

interface Upload {
  readonly uploadId: string
  readonly key: string
  readonly initiated: Date
  readonly contentType: string
  readonly contentEncoding: string | undefined
  readonly metadata: Readonly<Record<string, string>>
  readonly parts: Map<number, { readonly body: Buffer; readonly md5: Buffer }>
}

interface Answer {
  readonly status: number
  readonly headers?: Record<string, string | number>
  readonly body?: Buffer | string
}

const metadataOf = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const metadata: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith("x-amz-meta-") && typeof value === "string") metadata[name.slice("x-amz-meta-".length)] = value
  }
  return metadata
}

/** The content encoding to store: aws-chunked is how the body travelled, not what it is. */
const storedEncoding = (headers: http.IncomingHttpHeaders): string | undefined => {
  const kept = (headers["content-encoding"] ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "" && e.toLowerCase() !== "aws-chunked")
  return kept.length === 0 ? undefined : kept.join(",")
}

const objectHeaders = (object: S3StoredObject): Record<string, string | number> => {
  const headers: Record<string, string | number> = {
    "content-type": object.contentType,
    etag: object.etag,
    "last-modified": object.lastModified.toUTCString(),
    "accept-ranges": "bytes"
  }
  if (object.contentEncoding !== undefined) headers["content-encoding"] = object.contentEncoding
  for (const [name, value] of Object.entries(object.metadata)) headers[`x-amz-meta-${name}`] = value
  return headers
}

/** `bytes=a-b`, `bytes=a-` and `bytes=-n`; undefined for anything else, which S3 answers with the whole object. */
const parseRange = (header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined => {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m === null) return undefined
  const [, from = "", to = ""] = m
  if (from === "" && to === "") return undefined
  if (from === "") {
    const n = Number(to)
    return n === 0 ? "unsatisfiable" : { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(from)
  if (start >= size) return "unsatisfiable"
  return { start, end: to === "" ? size - 1 : Math.min(Number(to), size - 1) }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Starts a local S3 over HTTP that the real `@aws-sdk/client-s3` talks to with `forcePathStyle: true`:
 * SigV4 is verified (access key, signature, payload hash), bodies in aws-chunked framing are decoded and
 * their checksums checked, `If-None-Match: *` makes PutObject and CompleteMultipartUpload create-only,
 * and multipart uploads enforce S3's part rules. An object appears only once its whole body has been
 * received and checked, or its multipart upload completed: never in part.
 */
export const startS3Double = async (options: S3DoubleOptions = {}): Promise<S3Double> => {
  const region = options.region ?? "us-east-1"
  const credentials = options.credentials ?? { accessKeyId: DEFAULT_ACCESS_KEY_ID, secretAccessKey: randomBytes(20).toString("base64") }
  const minPartSize = options.minPartSize ?? S3_MIN_PART_SIZE
  const buckets = new Map<string, Bucket>()
  const requests: Array<S3RequestRecord> = []
  const scripted: Array<{ match: S3FaultMatch; fault: S3Fault; remaining: number; byKey: Map<string, number> }> = []

  const createBucket = (name: string) => {
    if (!buckets.has(name)) buckets.set(name, { objects: new Map(), uploads: new Map() })
  }
  for (const name of options.buckets ?? []) createBucket(name)

  const bucketOf = (name: string | undefined): Bucket => {
    const bucket = name === undefined ? undefined : buckets.get(name)
    if (bucket === undefined) throw new S3Error(404, "NoSuchBucket", "The specified bucket does not exist")
    return bucket
  }

  const takeFault = (r: Route): S3Fault | undefined => {
    const index = scripted.findIndex(({ match, byKey }) => {
      if (match.perKey === true && (byKey.get(r.key ?? "") ?? match.count ?? 1) <= 0) return false
      const ops = match.operation === undefined ? undefined : typeof match.operation === "string" ? [match.operation] : match.operation
      if (ops !== undefined && !ops.includes(r.operation)) return false
      if (match.bucket !== undefined && match.bucket !== r.bucket) return false
      if (match.keyPrefix !== undefined && !(r.key ?? "").startsWith(match.keyPrefix)) return false
      return true
    })
    const entry = scripted[index]
    if (entry === undefined) return undefined
    if (entry.match.perKey === true) {
      entry.byKey.set(r.key ?? "", (entry.byKey.get(r.key ?? "") ?? entry.match.count ?? 1) - 1)
      return entry.fault
    }
    entry.remaining--
    if (entry.remaining <= 0) scripted.splice(index, 1)
    return entry.fault
  }

  const putObject = (r: Route, req: http.IncomingMessage, received: ReceivedBody): Answer => {
    const bucket = bucketOf(r.bucket)
    const key = r.key as string
    const existing = bucket.objects.get(key)
    const ifNoneMatch = req.headers["if-none-match"]
    if (ifNoneMatch !== undefined) {
      if (ifNoneMatch.trim() !== "*") throw new S3Error(501, "NotImplemented", "If-None-Match on PutObject only supports *")
      if (existing !== undefined) throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    }
    const ifMatch = req.headers["if-match"]
    if (ifMatch !== undefined) {
      if (existing === undefined) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.")
      if (ifMatch.trim() !== existing.etag) throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    }
    const etag = `"${md5(received.body).toString("hex")}"`
    bucket.objects.set(key, {
      body: received.body,
      etag,
      contentType: req.headers["content-type"] ?? "binary/octet-stream",
      contentEncoding: storedEncoding(req.headers),
      metadata: metadataOf(req.headers),
      lastModified: new Date(),
      checksumCrc32: received.crc32
    })
    const headers: Record<string, string> = { etag }
    if (received.crc32 !== undefined) headers["x-amz-checksum-crc32"] = received.crc32
    return { status: 200, headers }
  }

  const getObject = (r: Route, req: http.IncomingMessage, head: boolean): Answer => {
    const object = bucketOf(r.bucket).objects.get(r.key as string)
    if (object === undefined) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.")
    const headers = objectHeaders(object)
    // Sent only when asked for, as S3 does, so that the SDK's response validation checks the double's CRC32.
    if (req.headers["x-amz-checksum-mode"] === "ENABLED" && object.checksumCrc32 !== undefined) {
      headers["x-amz-checksum-crc32"] = object.checksumCrc32
    }
    const range = parseRange(req.headers.range, object.body.length)
    if (range === "unsatisfiable") throw new S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    if (range === undefined) return { status: 200, headers: { ...headers, "content-length": object.body.length }, body: head ? "" : object.body }
    delete headers["x-amz-checksum-crc32"]
    const slice = object.body.subarray(range.start, range.end + 1)
    return {
      status: 206,
      headers: { ...headers, "content-length": slice.length, "content-range": `bytes ${range.start}-${range.end}/${object.body.length}` },
      body: head ? "" : slice
    }
  }

  const listObjectsV2 = (r: Route, query: URLSearchParams): Answer => {
    const bucket = bucketOf(r.bucket)
    const prefix = query.get("prefix") ?? ""
    const delimiter = query.get("delimiter") ?? ""
    const maxKeys = Math.min(1000, Number(query.get("max-keys") ?? "1000"))
    const token = query.get("continuation-token")
    // The token says where the last page stopped: after a key ("K"), or after every key under a common prefix ("P").
    const resume = token === null ? undefined : Buffer.from(token, "base64url").toString("utf8")
    const after = resume === undefined ? (query.get("start-after") ?? "") : resume.slice(1)
    const skipUnder = resume?.startsWith("P") === true ? after : undefined
    const urlEncoded = query.get("encoding-type") === "url"
    const show = (key: string) => escapeXml(urlEncoded ? encodeURIComponent(key).replace(/%2F/g, "/") : key)
    const keys = [...bucket.objects.keys()].filter((key) => key.startsWith(prefix) && key > after && (skipUnder === undefined || !key.startsWith(skipUnder))).sort()
    const contents: Array<string> = []
    const prefixes: Array<string> = []
    let truncated = false
    let last = ""
    for (const key of keys) {
      const rest = key.slice(prefix.length)
      const cut = delimiter === "" ? -1 : rest.indexOf(delimiter)
      const common = cut < 0 ? undefined : prefix + rest.slice(0, cut + delimiter.length)
      if (common !== undefined && prefixes.includes(common)) continue
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = true
        break
      }
      if (common !== undefined) {
        prefixes.push(common)
        last = `P${common}`
        continue
      }
      last = `K${key}`
      const object = bucket.objects.get(key) as S3StoredObject
      contents.push(
        `<Contents><Key>${show(key)}</Key><LastModified>${object.lastModified.toISOString()}</LastModified>` +
          `<ETag>${escapeXml(object.etag)}</ETag><Size>${object.body.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`
      )
    }
    const body = xml(
      `<ListBucketResult xmlns="${XML_NS}"><Name>${escapeXml(r.bucket as string)}</Name><Prefix>${show(prefix)}</Prefix>` +
        `<KeyCount>${contents.length + prefixes.length}</KeyCount><MaxKeys>${maxKeys}</MaxKeys>` +
        (delimiter === "" ? "" : `<Delimiter>${show(delimiter)}</Delimiter>`) +
        (urlEncoded ? "<EncodingType>url</EncodingType>" : "") +
        `<IsTruncated>${truncated}</IsTruncated>` +
        (token === null ? "" : `<ContinuationToken>${escapeXml(token)}</ContinuationToken>`) +
        (truncated ? `<NextContinuationToken>${Buffer.from(last, "utf8").toString("base64url")}</NextContinuationToken>` : "") +
        contents.join("") +
        prefixes.map((p) => `<CommonPrefixes><Prefix>${show(p)}</Prefix></CommonPrefixes>`).join("") +
        "</ListBucketResult>"
    )
    return { status: 200, headers: { "content-type": "application/xml" }, body }
  }

  const createMultipartUpload = (r: Route, req: http.IncomingMessage): Answer => {
    const bucket = bucketOf(r.bucket)
    const uploadId = randomBytes(24).toString("base64url")
    bucket.uploads.set(uploadId, {
      uploadId,
      key: r.key as string,
      initiated: new Date(),
      contentType: req.headers["content-type"] ?? "binary/octet-stream",
      contentEncoding: storedEncoding(req.headers),
      metadata: metadataOf(req.headers),
      parts: new Map()
    })
    const body = xml(
      `<InitiateMultipartUploadResult xmlns="${XML_NS}"><Bucket>${escapeXml(r.bucket as string)}</Bucket>` +
        `<Key>${escapeXml(r.key as string)}</Key><UploadId>${uploadId}</UploadId></InitiateMultipartUploadResult>`
    )
    return { status: 200, headers: { "content-type": "application/xml" }, body }
  }

  const uploadOf = (r: Route, query: URLSearchParams): { bucket: Bucket; upload: Upload } => {
    const bucket = bucketOf(r.bucket)
    const upload = bucket.uploads.get(query.get("uploadId") ?? "")
    if (upload === undefined || upload.key !== r.key) {
      throw new S3Error(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
    }
    return { bucket, upload }
  }

  const uploadPart = (r: Route, query: URLSearchParams, received: ReceivedBody): Answer => {
    const { upload } = uploadOf(r, query)
    const partNumber = Number(query.get("partNumber"))
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
      throw new S3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
    }
    const digest = md5(received.body)
    upload.parts.set(partNumber, { body: received.body, md5: digest })
    const headers: Record<string, string> = { etag: `"${digest.toString("hex")}"` }
    if (received.crc32 !== undefined) headers["x-amz-checksum-crc32"] = received.crc32
    return { status: 200, headers }
  }

  const completeMultipartUpload = (r: Route, req: http.IncomingMessage, query: URLSearchParams, received: ReceivedBody): Answer => {
    const { bucket, upload } = uploadOf(r, query)
    const text = received.body.toString("utf8")
    const listed = [...text.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map(([, part = ""]) => ({
      number: Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(part)?.[1] ?? "NaN"),
      etag: unescapeXml(/<ETag>([\s\S]*?)<\/ETag>/.exec(part)?.[1] ?? "").trim()
    }))
    if (!/<CompleteMultipartUpload[\s>]/.test(text) || listed.length === 0 || listed.some((p) => !Number.isInteger(p.number))) {
      throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
    }
    for (let i = 1; i < listed.length; i++) {
      if ((listed[i] as { number: number }).number <= (listed[i - 1] as { number: number }).number) {
        throw new S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order. Parts must be ordered by part number.")
      }
    }
    const parts = listed.map(({ number, etag }) => {
      const part = upload.parts.get(number)
      // S3 compares ETags with or without their quotes.
      if (part === undefined || etag.replace(/"/g, "") !== part.md5.toString("hex")) {
        throw new S3Error(400, "InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.")
      }
      return part
    })
    parts.slice(0, -1).forEach((part) => {
      if (part.body.length < minPartSize) throw new S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
    })
    const ifNoneMatch = req.headers["if-none-match"]
    if (ifNoneMatch !== undefined) {
      if (ifNoneMatch.trim() !== "*") throw new S3Error(501, "NotImplemented", "If-None-Match on CompleteMultipartUpload only supports *")
      // The upload stays open, as on S3: aborting it is the writer's job.
      if (bucket.objects.has(upload.key)) throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
    }
    const etag = `"${md5(Buffer.concat(parts.map((p) => p.md5))).toString("hex")}-${parts.length}"`
    bucket.objects.set(upload.key, {
      body: Buffer.concat(parts.map((p) => p.body)),
      etag,
      contentType: upload.contentType,
      contentEncoding: upload.contentEncoding,
      metadata: upload.metadata,
      lastModified: new Date(),
      checksumCrc32: undefined
    })
    bucket.uploads.delete(upload.uploadId)
    const body = xml(
      `<CompleteMultipartUploadResult xmlns="${XML_NS}"><Location>${escapeXml(`${url}/${r.bucket}/${upload.key}`)}</Location>` +
        `<Bucket>${escapeXml(r.bucket as string)}</Bucket><Key>${escapeXml(upload.key)}</Key><ETag>${escapeXml(etag)}</ETag></CompleteMultipartUploadResult>`
    )
    return { status: 200, headers: { "content-type": "application/xml" }, body }
  }

  const apply = (r: Route, req: http.IncomingMessage, query: URLSearchParams, received: ReceivedBody): Answer => {
    switch (r.operation) {
      case "ListBuckets":
        return {
          status: 200,
          headers: { "content-type": "application/xml" },
          body: xml(
            `<ListAllMyBucketsResult xmlns="${XML_NS}"><Owner><ID>s3double</ID></Owner><Buckets>` +
              [...buckets.keys()].sort().map((b) => `<Bucket><Name>${escapeXml(b)}</Name><CreationDate>${new Date(0).toISOString()}</CreationDate></Bucket>`).join("") +
              "</Buckets></ListAllMyBucketsResult>"
          )
        }
      case "CreateBucket":
        if (buckets.has(r.bucket as string)) throw new S3Error(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
        createBucket(r.bucket as string)
        return { status: 200, headers: { location: `/${r.bucket}` } }
      case "HeadBucket":
        bucketOf(r.bucket)
        return { status: 200, headers: { "x-amz-bucket-region": region } }
      case "DeleteBucket": {
        const bucket = bucketOf(r.bucket)
        if (bucket.objects.size > 0 || bucket.uploads.size > 0) throw new S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty")
        buckets.delete(r.bucket as string)
        return { status: 204 }
      }
      case "ListObjectsV2":
        return listObjectsV2(r, query)
      case "PutObject":
        return putObject(r, req, received)
      case "GetObject":
        return getObject(r, req, false)
      case "HeadObject":
        return getObject(r, req, true)
      case "DeleteObject":
        bucketOf(r.bucket).objects.delete(r.key as string)
        return { status: 204 }
      case "CreateMultipartUpload":
        return createMultipartUpload(r, req)
      case "UploadPart":
        return uploadPart(r, query, received)
      case "CompleteMultipartUpload":
        return completeMultipartUpload(r, req, query, received)
      case "AbortMultipartUpload": {
        const { bucket, upload } = uploadOf(r, query)
        bucket.uploads.delete(upload.uploadId)
        return { status: 204 }
      }
      case "Unsupported":
        throw new S3Error(501, "NotImplemented", `The S3 double does not implement ${req.method} ${req.url ?? ""}`)
    }
  }

  /** The whole body, or undefined when the connection went away first (then nothing may be applied). */
  const readBody = (req: http.IncomingMessage, resetAfter: number | undefined): Promise<Buffer | undefined> =>
    new Promise((resolve) => {
      const chunks: Array<Buffer> = []
      let length = 0
      let done = false
      const finish = (value: Buffer | undefined) => {
        if (!done) {
          done = true
          resolve(value)
        }
      }
      req.on("data", (chunk: Buffer) => {
        if (done) return
        chunks.push(chunk)
        length += chunk.length
        if (resetAfter !== undefined && length >= resetAfter) {
          req.socket.destroy()
          finish(undefined)
        }
      })
      req.on("end", () => finish(Buffer.concat(chunks)))
      req.on("error", () => finish(undefined))
      req.on("close", () => finish(req.complete ? Buffer.concat(chunks) : undefined))
    })

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const rawUrl = req.url ?? "/"
    const q = rawUrl.indexOf("?")
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q)
    const rawQuery = q < 0 ? "" : rawUrl.slice(q + 1)
    const query = new URLSearchParams(rawQuery)
    const requestId = randomBytes(8).toString("hex").toUpperCase()
    let r: Route = { operation: "Unsupported", bucket: undefined, key: undefined }
    let fault: S3Fault | undefined
    let bodyBytes = 0
    const record = (status: number, errorCode?: string) =>
      requests.push({
        method: req.method ?? "",
        path: rawPath,
        bucket: r.bucket,
        key: r.key,
        query: Object.fromEntries(query),
        operation: r.operation,
        status,
        errorCode,
        fault: fault === undefined ? undefined : (fault.kind ?? "error"),
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : (v ?? "")])),
        bodyBytes
      })
    const reset = () => {
      record(0)
      res.socket?.destroy()
    }
    const send = (answer: Answer, errorCode?: string) => {
      if (fault?.kind === "resetAfterApply") return reset()
      const body = answer.body ?? ""
      const headers: Record<string, string | number> = { "x-amz-request-id": requestId, ...answer.headers }
      if (headers["content-length"] === undefined) headers["content-length"] = Buffer.byteLength(body)
      res.writeHead(answer.status, headers)
      // HEAD answers carry the object's length but never a body.
      res.end(req.method === "HEAD" ? undefined : body)
      record(answer.status, errorCode)
    }
    const sendError = (error: S3Error, resource: string) =>
      send(
        {
          status: error.status,
          headers: { "content-type": "application/xml" },
          body: req.method === "HEAD" ? "" : xml(
            `<Error><Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message>` +
              `<Resource>${escapeXml(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`
          )
        },
        error.code
      )

    try {
      r = route(req.method ?? "GET", rawPath, query, req.headers["x-amz-copy-source"] !== undefined)
    } catch {
      // A malformed percent-encoding in the path.
      const raw = await readBody(req, undefined)
      bodyBytes = raw?.length ?? 0
      if (raw === undefined) return record(0)
      return sendError(new S3Error(400, "InvalidURI", "Couldn't parse the specified URI."), rawPath)
    }
    fault = takeFault(r)
    if (fault?.kind === "reset" && (fault.afterBodyBytes ?? 0) <= 0) return reset()
    const raw = await readBody(req, fault?.kind === "reset" ? fault.afterBodyBytes : undefined)
    bodyBytes = raw?.length ?? 0
    if (raw === undefined) return fault?.kind === "reset" ? reset() : record(0)
    if (fault?.kind === "delay") await sleep(fault.ms)
    if (fault !== undefined && (fault.kind === undefined || fault.kind === "error")) {
      return sendError(new S3Error(fault.status, fault.code, fault.message ?? `Scripted fault ${fault.code}`), rawPath)
    }
    try {
      const auth = verifySigV4(
        { method: req.method ?? "", rawPath, rawQuery, headers: req.headersDistinct },
        {
          region,
          secretFor: (id) => (id === credentials.accessKeyId ? credentials.secretAccessKey : undefined),
          now: new Date(),
          maxSkewMs: 15 * 60 * 1000
        }
      )
      if (!auth.ok) throw new S3Error(auth.status, auth.code, auth.message)
      send(apply(r, req, query, checkBody(req.headers, auth.payloadHash, raw)))
    } catch (error) {
      if (!(error instanceof S3Error)) throw error
      sendError(error, rawPath)
    }
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" })
        res.end(String(error))
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve())
  })
  const address = server.address() as AddressInfo
  const url = `http://${options.host ?? "127.0.0.1"}:${address.port}`

  return {
    url,
    port: address.port,
    region,
    credentials,
    objects: (bucket) => new Map(bucketOf(bucket).objects),
    requests,
    uploadsInProgress: (bucket) =>
      [...bucketOf(bucket).uploads.values()].map((u) => ({
        uploadId: u.uploadId,
        key: u.key,
        initiated: u.initiated,
        parts: [...u.parts.keys()].sort((a, b) => a - b)
      })),
    fault: (match, fault) => {
      scripted.push({ match, fault, remaining: match.count ?? 1, byKey: new Map() })
    },
    clearFaults: () => {
      scripted.length = 0
    },
    createBucket,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)))
        server.closeAllConnections()
      })
  }
}
