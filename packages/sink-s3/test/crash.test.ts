import { type S3Double, startS3Double } from "@featbit-export/testkit"
import { afterAll, describe, it } from "vitest"
import { killedExport } from "../../object-storage/test/killedExport.js"
import { freshBucket } from "./support.js"

let double: S3Double | undefined
afterAll(() => double?.close())

// Half a minute of CPU: the second run of the suite on the newest LTS (scripts/test-on-lts.mjs, which sets
// FEATBIT_EXPORT_LTS_RUN) skips it: once per CI is enough.
describe.skipIf(process.env["FEATBIT_EXPORT_LTS_RUN"] !== undefined)("a 200,000-event export to S3 killed with SIGKILL three times", () => {
  it("leaves only whole objects (each holding exactly the events its name was given for) and every event in one", async () => {
    const s3 = (double = await startS3Double())
    const bucket = freshBucket(s3)
    await killedExport({
      sinkPackage: "sink-s3",
      sinkExport: "S3Sink",
      sinkKeys: `      type: s3
      bucket: ${bucket}
      endpoint: ${s3.url}
      forcePathStyle: true
      region: ${s3.region}
      accessKeyId: ${s3.credentials.accessKeyId}
      secretAccessKey: ${s3.credentials.secretAccessKey}`,
      objects: async () => [...s3.objects(bucket)].map(([key, object]) => [key, object.body] as const),
      describeLeftovers: async () => `, ${s3.uploadsInProgress(bucket).length} multipart uploads left open`
    })
  }, 180_000)
})
