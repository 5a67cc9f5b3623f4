import { DurationSetting } from "@featbit-export/core"
import { ObjectSinkKeys } from "@featbit-export/object-storage"
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/** Bucket names: 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit (S3's rule). */
const BucketName = Schema.String.pipe(
  Schema.pattern(/^(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]$/, {
    message: () => "a bucket name is 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit (no s3:// and no key)"
  })
)

const Secret = Schema.Redacted(Schema.String.pipe(Schema.minLength(1)))

/** The keys of a `type: s3` sink in a pipeline file. */
export const S3SinkConfig = Schema.Struct({
  bucket: BucketName.annotations({ description: "The bucket the objects go into; it must exist" }),
  region: Schema.optional(
    Schema.String.pipe(Schema.pattern(/^[a-z0-9-]+$/, { message: () => "a region name such as us-east-1 or eu-west-1" })).annotations({
      description: "The bucket's region (default: AWS_REGION or AWS_DEFAULT_REGION, else us-east-1); for MinIO or R2 any value the server accepts (R2: auto)"
    })
  ),
  endpoint: Schema.optional(
    Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s/?#]+\/?$/, { message: () => "an http(s) URL without a path, such as https://<account>.r2.cloudflarestorage.com or http://minio:9000" })).annotations({
      description: "An S3-compatible endpoint (MinIO, Cloudflare R2, ...); leave out for AWS"
    })
  ),
  forcePathStyle: Schema.optionalWith(Schema.Boolean, { default: () => false, exact: true }).annotations({
    description: "Address the bucket in the path (http://host/bucket/key), as MinIO and most self-hosted stores need (default false: bucket.host)"
  }),
  accessKeyId: Schema.optional(Schema.String.pipe(Schema.minLength(1)).annotations({ description: "An access key id (with secretAccessKey); default: the AWS credential chain (environment, profile, instance or task role)" })),
  secretAccessKey: Schema.optional(Secret.annotations({ description: "The access key's secret (with accessKeyId)" })),
  sessionToken: Schema.optional(Secret.annotations({ description: "A session token, for temporary credentials (with accessKeyId and secretAccessKey)" })),
  ...ObjectSinkKeys,
  requestTimeout: Schema.optionalWith(DurationSetting, { default: () => Duration.seconds(60), exact: true }).annotations({
    description: "How long one request (a PUT, a part) may take before the batch is retried (default 60s)"
  })
})
export type S3SinkConfig = typeof S3SinkConfig.Type
