/**
 * Runs the Segment receiver as its own process (benchmarks):
 * `node dist/segmentReceiverCli.js --write-key KEY [--port N]`. Prints `{"url": ...}` on stdout once
 * listening; `GET /stats` returns the counters; SIGTERM stops it.
 */
import { startSegmentReceiver } from "./SegmentReceiver.js"

const arg = (name: string): string | undefined => {
  const at = process.argv.indexOf(name)
  return at === -1 ? undefined : process.argv[at + 1]
}

const receiver = await startSegmentReceiver({
  writeKey: arg("--write-key") ?? "test-write-key",
  port: Number(arg("--port") ?? 0),
  keepMessages: false
})
process.stdout.write(`${JSON.stringify({ url: receiver.url })}\n`)
process.on("SIGTERM", () => void receiver.stop().then(() => process.exit(0)))
