import { normalizePrefix } from "@featbit-export/object-storage"
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import { type Target, classify } from "./Errors.js"

/**
 * Writes and deletes a probe object under the prefix: the credentials, the bucket and the permission an export
 * needs (s3:PutObject; s3:DeleteObject for the probe alone), proven, not assumed. No HeadBucket: it needs
 * s3:ListBucket, which a write-only export key rightly lacks, and its answers carry no reason.
 */
export const checkBucket = (client: S3Client, target: Target, prefix: string, timeout: Duration.Duration) =>
  Effect.gen(function* () {
    // Each call under requestTimeout: a store that accepts the connection and never answers must not hang the check.
    const attempt = <A>(doing: string, run: (options: { readonly abortSignal: AbortSignal }) => Promise<A>) =>
      Effect.tryPromise({ try: () => run({ abortSignal: AbortSignal.timeout(Duration.toMillis(timeout)) }), catch: (error) => classify(error, target, doing) })
    const probe = `${normalizePrefix(prefix)}_featbit-export-check/${randomUUID()}.txt`
    yield* attempt(`writing the probe object ${probe}`, (options) =>
      client.send(new PutObjectCommand({ Bucket: target.bucket, Key: probe, Body: "featbit-export check: this object is deleted at once\n", ContentType: "text/plain", IfNoneMatch: "*" }), options)
    )
    yield* attempt(`deleting the probe object ${probe} (the export itself needs no delete; allow s3:DeleteObject for the check or remove the probe by hand)`, (options) =>
      client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: probe }), options)
    )
    return [
      `connected to ${target.where}: bucket ${target.bucket} exists and the credentials are accepted`,
      `wrote and deleted a probe object under ${normalizePrefix(prefix) || "the bucket's root"}: the credentials can create objects there`
    ]
  })
