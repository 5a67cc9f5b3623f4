import { createHash, createHmac } from "node:crypto"

/**
 * Checking AWS Signature Version 4 the way S3 does, for the S3 double: the Authorization header form and
 * presigned query form. The double needs the signature really checked, not only parsed, so that a sink
 * configured with the wrong secret fails in tests as it would against AWS.
 */

/** What the check needs from a request, exactly as it arrived. */
export interface SigV4Request {
  readonly method: string
  /** The path as sent, still percent-encoded: S3 signs it as is (no second encoding, no normalisation). */
  readonly rawPath: string
  /** The query string as sent, without the `?`. */
  readonly rawQuery: string
  /** Every header by lowercase name, each value as a separate entry (Node's `headersDistinct`). */
  readonly headers: Readonly<Record<string, ReadonlyArray<string> | undefined>>
}

export interface SigV4Options {
  /** The region the double serves: a credential scope naming another one is refused, as S3 refuses it. */
  readonly region: string
  /** The secret of an access key, undefined for a key the double does not know. */
  readonly secretFor: (accessKeyId: string) => string | undefined
  readonly now: Date
  /** How far `x-amz-date` may be from `now` (S3 allows 15 minutes). */
  readonly maxSkewMs: number
}

/** The signed request's context, kept for the body checks that can only happen once the body has arrived. */
export interface SigV4Verified {
  readonly ok: true
  readonly accessKeyId: string
  /** `x-amz-content-sha256` (header form) or `UNSIGNED-PAYLOAD` (presigned form). */
  readonly payloadHash: string
}

/** Why S3 would refuse the request, as its status and error code. */
export interface SigV4Refused {
  readonly ok: false
  readonly status: number
  readonly code: string
  readonly message: string
}

export type SigV4Outcome = SigV4Verified | SigV4Refused

export const ALGORITHM = "AWS4-HMAC-SHA256"
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
/** The `x-amz-content-sha256` values of aws-chunked bodies: the hash is not of the body as sent. */
export const STREAMING_PAYLOADS: ReadonlySet<string> = new Set([
  "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
  "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
  "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"
])

export const sha256Hex = (data: string | Buffer): string => createHash("sha256").update(data).digest("hex")
const hmac = (key: string | Buffer, data: string): Buffer => createHmac("sha256", key).update(data, "utf8").digest()

export const signingKey = (secret: string, date: string, region: string, service: string): Buffer =>
  hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request")

/** RFC 3986 encoding with only the unreserved characters left alone, as SigV4 requires for the query. */
export const uriEncode = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

const decodeQueryPart = (part: string): string => {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

/**
 * Every name and value decoded and re-encoded, so that `a=b%2fc` and `a=b/c` sign alike, then sorted by
 * name then value; a bare `uploads` becomes `uploads=`. `exclude` drops a parameter (the presigned
 * signature, which cannot sign itself).
 */
export const canonicalQuery = (rawQuery: string, exclude?: string): string =>
  rawQuery
    .split("&")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const eq = pair.indexOf("=")
      const name = decodeQueryPart(eq < 0 ? pair : pair.slice(0, eq))
      const value = eq < 0 ? "" : decodeQueryPart(pair.slice(eq + 1))
      return { name, encoded: [uriEncode(name), uriEncode(value)] as const }
    })
    .filter(({ name }) => name !== exclude)
    .map(({ encoded }) => encoded)
    .sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&")

const canonicalHeaderValue = (values: ReadonlyArray<string>): string =>
  values.map((value) => value.trim().replace(/\s+/g, " ")).join(",")

export const canonicalRequest = (
  request: SigV4Request,
  signedHeaders: ReadonlyArray<string>,
  payloadHash: string,
  excludeQuery?: string
): string =>
  [
    request.method,
    request.rawPath === "" ? "/" : request.rawPath,
    canonicalQuery(request.rawQuery, excludeQuery),
    signedHeaders.map((name) => `${name}:${canonicalHeaderValue(request.headers[name] ?? [])}\n`).join(""),
    signedHeaders.join(";"),
    payloadHash
  ].join("\n")

export const stringToSign = (amzDate: string, scope: string, canonical: string): string =>
  [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join("\n")

const refused = (status: number, code: string, message: string): SigV4Refused => ({ ok: false, status, code, message })

/** `20261203T101500Z` as a Date, undefined when it is not that shape. */
const parseAmzDate = (value: string): Date | undefined => {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value)
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number]
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s))
}

interface Parsed {
  readonly accessKeyId: string
  readonly scopeDate: string
  readonly scopeRegion: string
  readonly scopeService: string
  readonly signedHeaders: ReadonlyArray<string>
  readonly signature: string
  readonly amzDate: string
  readonly payloadHash: string
  /** The presigned form: the query parameter left out of the canonical query. */
  readonly excludeQuery?: string
  readonly expiresSeconds?: number
}

const parseCredential = (credential: string) => {
  // The access key id never has a slash, the scope is always four parts after it.
  const parts = credential.split("/")
  if (parts.length !== 5 || parts[4] !== "aws4_request") return undefined
  const [accessKeyId, scopeDate, scopeRegion, scopeService] = parts as [string, string, string, string, string]
  return { accessKeyId, scopeDate, scopeRegion, scopeService }
}

const fromHeader = (request: SigV4Request, authorization: string): Parsed | SigV4Refused => {
  if (!authorization.startsWith(`${ALGORITHM} `)) {
    return refused(400, "InvalidArgument", "Unsupported Authorization Type (only AWS4-HMAC-SHA256 is accepted)")
  }
  const fields = new Map<string, string>()
  for (const part of authorization.slice(ALGORITHM.length + 1).split(",")) {
    const eq = part.indexOf("=")
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  const credential = parseCredential(fields.get("Credential") ?? "")
  const signedHeaders = fields.get("SignedHeaders")
  const signature = fields.get("Signature")
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    return refused(400, "AuthorizationHeaderMalformed", `The authorization header is malformed: ${authorization}`)
  }
  const amzDate = request.headers["x-amz-date"]?.[0] ?? ""
  const payloadHash = request.headers["x-amz-content-sha256"]?.[0]
  if (payloadHash === undefined) {
    return refused(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
  }
  return { ...credential, signedHeaders: signedHeaders.split(";"), signature, amzDate, payloadHash }
}

const fromQuery = (query: URLSearchParams): Parsed | SigV4Refused => {
  if (query.get("X-Amz-Algorithm") !== ALGORITHM) {
    return refused(400, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
  }
  const credential = parseCredential(query.get("X-Amz-Credential") ?? "")
  const signedHeaders = query.get("X-Amz-SignedHeaders")
  const signature = query.get("X-Amz-Signature")
  const expires = Number(query.get("X-Amz-Expires") ?? "NaN")
  if (credential === undefined || signedHeaders === null || signature === null || !Number.isInteger(expires)) {
    return refused(400, "AuthorizationQueryParametersError", "The presigned query parameters are incomplete or malformed")
  }
  return {
    ...credential,
    signedHeaders: signedHeaders.split(";"),
    signature,
    amzDate: query.get("X-Amz-Date") ?? "",
    // The JavaScript presigner hoists its `x-amz-content-sha256: UNSIGNED-PAYLOAD` header into the query.
    payloadHash: [...query].find(([name]) => name.toLowerCase() === "x-amz-content-sha256")?.[1] ?? UNSIGNED_PAYLOAD,
    excludeQuery: "X-Amz-Signature",
    expiresSeconds: expires
  }
}

/**
 * Verifies the request's signature over everything but the body. The body's hash (when
 * `x-amz-content-sha256` is a hex digest) can only be compared once it has arrived: the caller does that
 * with `payloadHash`.
 */
export const verifySigV4 = (request: SigV4Request, options: SigV4Options): SigV4Outcome => {
  const authorization = request.headers["authorization"]?.[0]
  const query = new URLSearchParams(request.rawQuery)
  const parsed =
    authorization !== undefined
      ? fromHeader(request, authorization)
      : query.has("X-Amz-Signature")
        ? fromQuery(query)
        : refused(403, "AccessDenied", "Anonymous access is not allowed: the request is not signed")
  if ("ok" in parsed) return parsed

  const secret = options.secretFor(parsed.accessKeyId)
  if (secret === undefined) {
    return refused(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
  }
  if (parsed.scopeService !== "s3") {
    return refused(400, "AuthorizationHeaderMalformed", `The service '${parsed.scopeService}' in the credential scope is wrong; expecting 's3'`)
  }
  if (parsed.scopeRegion !== options.region) {
    return refused(
      400,
      "AuthorizationHeaderMalformed",
      `The authorization header is malformed; the region '${parsed.scopeRegion}' is wrong; expecting '${options.region}'`
    )
  }
  const signedAt = parseAmzDate(parsed.amzDate)
  if (signedAt === undefined || !parsed.amzDate.startsWith(parsed.scopeDate)) {
    return refused(403, "AccessDenied", "X-Amz-Date is missing, malformed or not the credential scope's date")
  }
  if (parsed.expiresSeconds !== undefined) {
    if (options.now.getTime() > signedAt.getTime() + parsed.expiresSeconds * 1000) {
      return refused(403, "AccessDenied", "Request has expired")
    }
  } else if (Math.abs(options.now.getTime() - signedAt.getTime()) > options.maxSkewMs) {
    return refused(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
  }
  if (!parsed.signedHeaders.includes("host")) {
    return refused(403, "AccessDenied", "The host header must be signed")
  }
  // S3 refuses x-amz-* headers that ride along unsigned: they change what the request does.
  const unsigned = Object.keys(request.headers).filter(
    (name) => name.startsWith("x-amz-") && !parsed.signedHeaders.includes(name)
  )
  if (parsed.excludeQuery === undefined && unsigned.length > 0) {
    return refused(403, "AccessDenied", `There were headers present in the request which were not signed: ${unsigned.join(", ")}`)
  }

  const scope = `${parsed.scopeDate}/${parsed.scopeRegion}/${parsed.scopeService}/aws4_request`
  const canonical = canonicalRequest(request, parsed.signedHeaders, parsed.payloadHash, parsed.excludeQuery)
  const expected = createHmac("sha256", signingKey(secret, parsed.scopeDate, parsed.scopeRegion, parsed.scopeService))
    .update(stringToSign(parsed.amzDate, scope, canonical), "utf8")
    .digest("hex")
  if (expected !== parsed.signature) {
    return refused(
      403,
      "SignatureDoesNotMatch",
      "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )
  }
  return { ok: true, accessKeyId: parsed.accessKeyId, payloadHash: parsed.payloadHash }
}
