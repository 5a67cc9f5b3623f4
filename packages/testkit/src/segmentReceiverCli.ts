/**
 * Runs the Segment receiver as its own process (benchmarks):
 * `node dist/segmentReceiverCli.js --write-key KEY [--port N] [--flavor segment|rudderstack]`
 * (`rudderstack`: answers as RudderStack's gateway does, see `startSegmentReceiver`). Prints
 * `{"url": ...}` on stdout once listening; `GET /stats` returns the counters; SIGTERM stops it.
 */
import { arg } from "./receivers/cliArgs.js"
import { announceUntilSignalled } from "./receivers/runAsProcess.js"
import { startSegmentReceiver } from "./SegmentReceiver.js"

const flavor = arg("--flavor") ?? "segment"
if (flavor !== "segment" && flavor !== "rudderstack") {
  console.error(`--flavor must be segment or rudderstack, not ${flavor}`)
  process.exit(2)
}

const receiver = await startSegmentReceiver({
  writeKey: arg("--write-key") ?? "test-write-key",
  port: Number(arg("--port") ?? 0),
  keepMessages: false,
  flavor
})
announceUntilSignalled(receiver, ["SIGTERM"])
