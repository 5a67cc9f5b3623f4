import { type S3Double, sinkConformance, startS3Double } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { gunzipSync } from "node:zlib"
import { afterAll, beforeAll } from "vitest"
import { doubleConfig, freshBucket, openSink } from "./support.js"

let double: S3Double
beforeAll(async () => {
  double = await startS3Double()
})
afterAll(() => double.close())

// The transient fault is S3's throttling answer, 503 SlowDown, on the first n tries of every object; the fatal one the bucket deleted
// under the sink (404 NoSuchBucket). Object storage refuses no event on its own: no poison case.
sinkConformance("s3", {
  supports: ["transient", "fatal"],
  make: () =>
    Effect.gen(function* () {
      const bucket = freshBucket(double)
      const sink = yield* openSink(doubleConfig(double, bucket, { format: "ndjson" }))
      return {
        sink,
        delivered: () =>
          Effect.sync(() =>
            [...double.objects(bucket).values()].flatMap((object) =>
              gunzipSync(object.body).toString("utf8").trimEnd().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)
            )
          ),
        injectTransient: (times: number) => Effect.sync(() => double.fault({ operation: "PutObject", bucket, count: times, perKey: true }, { status: 503, code: "SlowDown", message: "Please reduce your request rate." })),
        injectFatal: () => Effect.sync(() => double.fault({ bucket, count: Infinity }, { status: 404, code: "NoSuchBucket", message: "The specified bucket does not exist" }))
      }
    })
})
