/**
 * Runs the Segment receiver as its own process (benchmarks):
 * `node dist/segmentReceiverCli.js --write-key KEY [--port N]`. Prints `{"url": ...}` on stdout once
 * listening; `GET /stats` returns the counters; SIGTERM stops it.
 */
import { arg } from "./receivers/cliArgs.js"
import { announceUntilSignalled } from "./receivers/runAsProcess.js"
import { startSegmentReceiver } from "./SegmentReceiver.js"

const receiver = await startSegmentReceiver({
  writeKey: arg("--write-key") ?? "test-write-key",
  port: Number(arg("--port") ?? 0),
  keepMessages: false
})
announceUntilSignalled(receiver, ["SIGTERM"])
