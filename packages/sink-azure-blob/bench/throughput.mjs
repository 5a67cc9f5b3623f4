// sink-azure-blob's throughput against Azurite (Microsoft's emulator, from npm, a child process on 127.0.0.1):
// the sink against a bare encode+upload and a bare upload of the same objects by @azure/storage-blob, as
// packages/object-storage/bench/sinkBench.mjs describes. Exits 1 under 0.7 of the bare encode+upload.
//   node packages/sink-azure-blob/bench/throughput.mjs [events=100000] [formats=parquet,ndjson]
// Build first: npx tsc -b tsconfig.json (at the root).
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { BlobServiceClient } from "@azure/storage-blob"
import { benchObjectSink } from "../../object-storage/bench/sinkBench.mjs"

delete process.env["AZURE_LOG_LEVEL"]
const here = path.dirname(fileURLToPath(import.meta.url))
const dist = path.join(here, "..", "dist")
const { AzureBlobSink } = await import(pathToFileURL(path.join(dist, "index.js")).href)
const { BLOCK_BYTES, SINGLE_SHOT_BYTES } = await import(pathToFileURL(path.join(dist, "Client.js")).href)
const require = createRequire(import.meta.url)

// Azurite's well-known development account (public, in its README), as test/support.ts uses it.
const ACCOUNT = "devstoreaccount1"
const ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

/** Azurite's blob service as a child process (test/support.ts's startAzurite, plus --silent: no access log). */
const startAzurite = async () => {
  const main = path.join(path.dirname(require.resolve("azurite/package.json")), "dist", "src", "blob", "main.js")
  const location = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-azurite-bench-"))
  const child = spawn(
    process.execPath,
    [main, "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", location, "--loose", "--skipApiVersionCheck", "--disableTelemetry", "--silent"],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const closed = new Promise((resolve) => child.once("close", resolve))
      child.kill("SIGTERM")
      await closed
    }
    fs.rmSync(location, { recursive: true, force: true })
  }
  let output = ""
  try {
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Azurite did not start in 30s:\n${output}`)), 30_000)
      const read = (chunk) => {
        if (output.length < 64_000) output += chunk.toString()
        const found = /successfully listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
        if (found) {
          clearTimeout(timer)
          resolve(found[1])
        }
      }
      child.stdout.on("data", read)
      child.stderr.on("data", read)
      child.once("exit", (code) => {
        clearTimeout(timer)
        reject(new Error(`Azurite exited (${code}):\n${output}`))
      })
    })
    return { connectionString: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${url}/${ACCOUNT};`, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

const azurite = await startAzurite()
let passed = false
try {
  const { connectionString } = azurite
  // The bare side: the SDK as the sink sets it up (no SDK retries), the sink's block sizes, no condition.
  const service = BlobServiceClient.fromConnectionString(connectionString, { retryOptions: { maxTries: 1 } })
  let containers = 0
  passed = await benchObjectSink({
    label: "sink-azure-blob",
    plugin: AzureBlobSink,
    count: Number(process.argv[2] ?? 100_000),
    formats: (process.argv[3] ?? "parquet,ndjson").split(","),
    config: (container, format) => ({ connectionString, container, format }),
    freshTarget: async (tag) => {
      const name = `${tag}-${process.pid}-${containers++}`
      await service.getContainerClient(name).create()
      return name
    },
    upload: async (container, key, body, contentType) => {
      await service.getContainerClient(container).getBlockBlobClient(key).uploadData(body, {
        blobHTTPHeaders: { blobContentType: contentType },
        blockSize: BLOCK_BYTES,
        maxSingleShotSize: SINGLE_SHOT_BYTES,
        concurrency: 4
      })
    },
    objects: async (name) => {
      const container = service.getContainerClient(name)
      const found = []
      for await (const blob of container.listBlobsFlat()) found.push([blob.name, await container.getBlobClient(blob.name).downloadToBuffer()])
      return found
    }
  })
} finally {
  await azurite.stop()
}
if (!passed) process.exitCode = 1
