// testkit's S3 double in a process of its own, for the benchmark: prints its endpoint and credentials as one
// JSON line, then serves until stdin closes. (The "/s3" entry: the main one brings vitest.)
import { startS3Double } from "@featbit-export/testkit/s3"

const double = await startS3Double()
process.stdout.write(JSON.stringify({ url: double.url, region: double.region, credentials: double.credentials }) + "\n")
process.stdin.resume()
process.stdin.on("end", () => void double.close().then(() => process.exit(0)))
