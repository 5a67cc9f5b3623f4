/**
 * Runs the PostHog capture double as its own process (sink tests, benchmarks):
 * `node dist/posthog/posthogReceiverCli.js --api-key KEY [--port N] [--host H] [--error-format text|json]
 * [--keep-rows]`. Prints `{"url": ...}` on stdout once listening; `GET /stats` returns the counters;
 * SIGTERM (or SIGINT) stops it.
 */
import { arg, flag } from "../receivers/cliArgs.js"
import { announceUntilSignalled } from "../receivers/runAsProcess.js"
import { startPostHogReceiver } from "./PostHogReceiver.js"

const errorFormat = arg("--error-format") ?? "text"
if (errorFormat !== "text" && errorFormat !== "json") {
  process.stderr.write(`--error-format must be text or json, got ${errorFormat}\n`)
  process.exit(2)
}
const port = Number(arg("--port") ?? 0)
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  process.stderr.write(`--port must be a port number, got ${arg("--port")}\n`)
  process.exit(2)
}

const receiver = await startPostHogReceiver({
  apiKey: arg("--api-key") ?? "phc_test_key",
  port,
  host: arg("--host") ?? "127.0.0.1",
  errorFormat,
  keepRows: flag("--keep-rows")
})
announceUntilSignalled(receiver, ["SIGTERM", "SIGINT"])
