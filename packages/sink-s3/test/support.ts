// The sink against testkit's S3 double (SigV4 checked, If-None-Match, multipart, scripted faults), driven by the
// real @aws-sdk/client-s3 inside the sink.
import { type ExportEvent, Timestamp, decodeFeatBitRow, type Sink, type SinkError } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { S3Sink } from "@featbit-export/sink-s3"
import type { S3Double } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

let buckets = 0
/** A new, empty bucket in the double. */
export const freshBucket = (double: S3Double): string => {
  const name = `t${process.pid}-${Date.now().toString(36)}-${buckets++}`
  double.createBucket(name)
  return name
}

/** The sink's keys for the double: its endpoint, region and credentials. */
export const doubleConfig = (double: S3Double, bucket: string, extra: Record<string, unknown> = {}) => ({
  bucket,
  endpoint: double.url,
  forcePathStyle: true,
  region: double.region,
  accessKeyId: double.credentials.accessKeyId,
  secretAccessKey: double.credentials.secretAccessKey,
  ...extra
})

/** Production-shaped events from an hour ago. */
export const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed, start: Timestamp.fromMillis(Date.now() - 3_600_000) })].flatMap((row) =>
    Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (event) => [event] })
  )

export const openSink = (config: Record<string, unknown>): Effect.Effect<Sink, SinkError, Scope.Scope> =>
  Effect.flatMap(Effect.orDie(Schema.decodeUnknown(S3Sink.config)(config)), (decoded) => S3Sink.make(decoded, { pipeline: "test", baseDir: process.cwd() }))

export const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))
