import { SinkError, Secrets } from "@featbit-export/core"

export const PLUGIN = "s3"

/** Where the sink writes and what must never be shown of it. */
export interface Target {
  /** `s3://bucket` (and the endpoint when not AWS). */
  readonly where: string
  readonly bucket: string
  readonly secrets: ReadonlyArray<string>
}

interface S3Like {
  readonly name?: string
  readonly Code?: string
  readonly code?: string
  readonly message?: string
  readonly $metadata?: { readonly httpStatusCode?: number }
}

/** S3's answers worth another try: throttling, its own failures, a conflicting concurrent conditional write. */
const TRANSIENT_S3_CODES = new Set(["SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeTooSkewed", "ConditionalRequestConflict", "OperationAborted", "TimeoutError", "RequestTimeoutException"])
/** No answer at all: the connection failed, or the request outlived requestTimeout. */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED", "UND_ERR_SOCKET"])
const CREDENTIAL_CODES = new Set(["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "AllAccessDisabled"])

export const statusOf = (error: unknown): number | undefined => (error as S3Like | undefined)?.$metadata?.httpStatusCode
export const codeOf = (error: unknown): string => {
  const s3 = (typeof error === "object" && error !== null ? error : {}) as S3Like
  return s3.Code ?? (s3.code !== undefined && NETWORK_CODES.has(s3.code) ? s3.code : undefined) ?? s3.name ?? "Error"
}

/** S3's answer (or its absence) as a typed failure, transient or fatal, with one sentence of what to do. */
export const classify = (error: unknown, target: Target, doing: string): SinkError => {
  const scrubber = Secrets.scrubberOf(target.secrets, { minLength: 1 })
  const status = statusOf(error)
  const code = codeOf(error)
  const said = Secrets.excerpt(String((error as S3Like | undefined)?.message ?? error).split("\n")[0] ?? "", scrubber)
  const at = `S3 at ${target.where}`
  const transient = (text: string) => SinkError.transient(PLUGIN, scrubber.scrub(text), { cause: error })
  const fatal = (text: string) => SinkError.fatal(PLUGIN, scrubber.scrub(text), error)
  if (code === "AbortError") return transient(`${at} did not answer in time while ${doing} (requestTimeout); retrying`)
  if (code === "NoSuchBucket") return fatal(`${at}: bucket ${target.bucket} does not exist; create it (aws s3 mb s3://${target.bucket}) or fix bucket`)
  if (code === "CredentialsProviderError")
    return fatal(`no AWS credentials found while ${doing} (${said}); give accessKeyId and secretAccessKey, or set AWS_ACCESS_KEY_ID / AWS_PROFILE / a role for the runner`)
  if (code === "PermanentRedirect" || code === "AuthorizationHeaderMalformed" || code === "IllegalLocationConstraintException")
    return fatal(`${at} is in another region than the one the sink signs for (${code}: ${said}); set region to the bucket's region`)
  if (code === "InvalidAccessKeyId") return fatal(`${at} does not know the access key (InvalidAccessKeyId); fix accessKeyId, or the endpoint if this is not AWS`)
  if (code === "SignatureDoesNotMatch") return fatal(`${at} refused the signature (SignatureDoesNotMatch); fix secretAccessKey (and the clock, if it is far off)`)
  if (CREDENTIAL_CODES.has(code) || status === 403)
    return fatal(`${at} refused ${doing} (${code}: ${said}); the credentials need s3:PutObject on ${target.bucket}/<prefix>* (and s3:AbortMultipartUpload), and must not have expired`)
  if (TRANSIENT_S3_CODES.has(code) || NETWORK_CODES.has(code) || status === 408 || status === 429 || (status !== undefined && status >= 500))
    return transient(`${at} failed while ${doing} (${status ?? "no answer"} ${code}: ${said})`)
  if (status === undefined) return fatal(`unexpected failure while ${doing} (${code}: ${said}); this is a bug, report it`)
  return fatal(`${at} refused ${doing} (${status} ${code}: ${said})`)
}
