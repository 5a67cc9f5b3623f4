// sink-s3's throughput against testkit's S3 double (SigV4 checked, checksums verified) in a child process: the
// sink against a bare encode+upload and a bare upload of the same objects by @aws-sdk/client-s3 (PutObject, as
// the sink sends objects of this size), as packages/object-storage/bench/sinkBench.mjs describes. Exits 1 under
// 0.7 of the bare encode+upload.
//   node packages/sink-s3/bench/throughput.mjs [events=100000] [formats=parquet,ndjson]
// Build first: npx tsc -b tsconfig.json (at the root).
import { spawn } from "node:child_process"
import * as path from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath, pathToFileURL } from "node:url"
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { benchObjectSink } from "../../object-storage/bench/sinkBench.mjs"

process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"] ??= "true"
const here = path.dirname(fileURLToPath(import.meta.url))
const { S3Sink } = await import(pathToFileURL(path.join(here, "..", "dist", "index.js")).href)

const server = spawn(process.execPath, [path.join(here, "s3-double.mjs")], { stdio: ["pipe", "pipe", "inherit"] })
const double = await new Promise((resolve, reject) => {
  server.once("exit", (code) => reject(new Error(`the S3 double exited (${code})`)))
  createInterface({ input: server.stdout }).once("line", (line) => resolve(JSON.parse(line)))
})
let passed = false
try {
  // The bare side: the SDK as the sink sets it up (no SDK retries), no condition.
  const s3 = new S3Client({ endpoint: double.url, forcePathStyle: true, region: double.region, credentials: double.credentials, maxAttempts: 1 })
  let buckets = 0
  passed = await benchObjectSink({
    label: "sink-s3",
    plugin: S3Sink,
    count: Number(process.argv[2] ?? 100_000),
    formats: (process.argv[3] ?? "parquet,ndjson").split(","),
    config: (bucket, format) => ({ bucket, format, endpoint: double.url, forcePathStyle: true, region: double.region, ...double.credentials }),
    freshTarget: async (tag) => {
      const bucket = `${tag}-${process.pid}-${buckets++}`
      await s3.send(new CreateBucketCommand({ Bucket: bucket }))
      return bucket
    },
    upload: async (bucket, key, body, contentType) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }))
    },
    objects: async (bucket) => {
      const found = []
      let token
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }))
        for (const { Key } of page.Contents ?? []) {
          const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key }))
          found.push([Key, Buffer.from(await object.Body.transformToByteArray())])
        }
        token = page.NextContinuationToken
      } while (token !== undefined)
      return found
    }
  })
  s3.destroy()
} finally {
  server.stdin.end()
  await new Promise((resolve) => (server.exitCode === null ? server.once("exit", resolve) : resolve()))
}
if (!passed) process.exitCode = 1
