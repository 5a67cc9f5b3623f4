import type { SinkError } from "@featbit-export/core"
import type { ObjectStore } from "@featbit-export/object-storage"
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand
} from "@aws-sdk/client-s3"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type { S3SinkConfig } from "./Config.js"
import { type Target, classify, statusOf } from "./Errors.js"

/** One PUT up to 8 MiB; above, a multipart upload of 8 MiB parts (S3's minimum is 5 MiB, the last part excepted). */
export const SINGLE_PUT_BYTES = 8 * 1024 * 1024
export const PART_BYTES = 8 * 1024 * 1024
const PARTS_AT_ONCE = 4

/** The client, and what its messages may name and must hide. The engine retries, not the SDK (maxAttempts 1). */
export const openBucket = (config: S3SinkConfig): { readonly client: S3Client; readonly target: Target } => {
  // client-s3 3.1175 warns on every start under Node 20 about its plans for 2027; the runner's logs are not the place.
  process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true"
  const secrets = [config.secretAccessKey, config.sessionToken].flatMap((secret) => (secret === undefined ? [] : [Redacted.value(secret)]))
  const client = new S3Client({
    region: config.region ?? process.env["AWS_REGION"] ?? process.env["AWS_DEFAULT_REGION"] ?? "us-east-1",
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    forcePathStyle: config.forcePathStyle,
    maxAttempts: 1,
    ...(config.accessKeyId === undefined || config.secretAccessKey === undefined
      ? {}
      : {
          credentials: {
            accessKeyId: config.accessKeyId,
            secretAccessKey: Redacted.value(config.secretAccessKey),
            ...(config.sessionToken === undefined ? {} : { sessionToken: Redacted.value(config.sessionToken) })
          }
        })
  })
  const where = `s3://${config.bucket}${config.endpoint === undefined ? "" : ` at ${config.endpoint}`}`
  return { client, target: { where, bucket: config.bucket, secrets } }
}

/** Sends one command, cancelled when the fiber is interrupted or the request outlives `timeout`. */
const sender =
  (client: S3Client, target: Target, timeout: Duration.Duration) =>
  <A>(doing: string, request: (client: S3Client, options: { readonly abortSignal: AbortSignal }) => Promise<A>): Effect.Effect<A, SinkError> =>
    Effect.tryPromise({
      try: (signal) => request(client, { abortSignal: AbortSignal.any([signal, AbortSignal.timeout(Duration.toMillis(timeout))]) }),
      catch: (error) => classify(error, target, doing)
    })

const isPreconditionFailed = (error: SinkError) => statusOf(error.cause) === 412

/**
 * The object store over a bucket: each object created whole and create-only (`If-None-Match: *`), by one
 * PutObject up to 8 MiB or by a multipart upload whose CompleteMultipartUpload carries the condition, so the
 * object appears only complete. 412: written by an earlier try. A multipart upload that does not complete is
 * aborted, so no parts are left to bill (S3 keeps them otherwise until a lifecycle rule removes them).
 */
export const bucketStore = (client: S3Client, target: Target, timeout: Duration.Duration): ObjectStore => {
  const send = sender(client, target, timeout)
  const exists = (error: SinkError): Effect.Effect<"exists", SinkError> => (isPreconditionFailed(error) ? Effect.succeed("exists" as const) : Effect.fail(error))
  const putWhole = (key: string, body: Buffer, contentType: string) =>
    send(`uploading ${key}`, (s3, options) => s3.send(new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: body, ContentType: contentType, IfNoneMatch: "*" }), options)).pipe(
      Effect.as("created" as const),
      Effect.catchAll(exists)
    )
  const putInParts = (key: string, body: Buffer, contentType: string) =>
    Effect.acquireUseRelease(
      send(`starting the multipart upload of ${key}`, (s3, options) =>
        s3.send(new CreateMultipartUploadCommand({ Bucket: target.bucket, Key: key, ContentType: contentType, ChecksumAlgorithm: "CRC32" }), options)
      ),
      ({ UploadId }) =>
        Effect.gen(function* () {
          const count = Math.ceil(body.length / PART_BYTES)
          const parts = yield* Effect.forEach(
            Array.from({ length: count }, (_, index) => index + 1),
            (PartNumber) =>
              send(`uploading part ${PartNumber} of ${count} of ${key}`, (s3, options) =>
                s3.send(
                  new UploadPartCommand({ Bucket: target.bucket, Key: key, UploadId, PartNumber, Body: body.subarray((PartNumber - 1) * PART_BYTES, PartNumber * PART_BYTES), ChecksumAlgorithm: "CRC32" }),
                  options
                )
              ).pipe(Effect.map(({ ETag, ChecksumCRC32 }): CompletedPart => ({ PartNumber, ETag, ChecksumCRC32 }))),
            { concurrency: PARTS_AT_ONCE }
          )
          yield* send(`completing the multipart upload of ${key}`, (s3, options) =>
            s3.send(new CompleteMultipartUploadCommand({ Bucket: target.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts }, IfNoneMatch: "*" }), options)
          )
          return "created" as const
        }).pipe(Effect.catchAll(exists)),
      // Completed: nothing to do. Otherwise (failed, interrupted, or the key already there) the parts are dropped; an
      // abort that fails too is left to the bucket's lifecycle rule: the batch's own failure is what matters.
      ({ UploadId }, exit) =>
        Exit.isSuccess(exit) && exit.value === "created"
          ? Effect.void
          : send(`aborting the multipart upload of ${key}`, (s3, options) => s3.send(new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: key, UploadId }), options)).pipe(Effect.ignore)
    )
  return {
    where: target.where,
    create: (key, body, contentType) => (body.length <= SINGLE_PUT_BYTES ? putWhole(key, body, contentType) : putInParts(key, body, contentType))
  }
}
