/**
 * Runs the Amplitude receiver as its own process (benchmarks, end-to-end runs):
 * `node dist/amplitude/amplitudeReceiverCli.js --api-key KEY [--port N] [--host H] [--keep-events]
 * [--faults 503,429,500,500AfterIngest,reset,resetAfterAccept --fault-probability P --fault-seed S]`.
 * Prints `{"url": ...}` on stdout once listening; `GET /stats` returns the counters; SIGTERM stops it.
 */
import { arg, flag } from "../receivers/cliArgs.js"
import { announceUntilSignalled } from "../receivers/runAsProcess.js"
import type { AmplitudeFault } from "./AmplitudeReceiver.js"
import { startAmplitudeReceiver } from "./AmplitudeReceiver.js"

const simple: Record<string, AmplitudeFault> = {
  "429": { kind: "429" },
  "503": { kind: "503" },
  "500": { kind: "500" },
  "500AfterIngest": { kind: "500AfterIngest" },
  reset: { kind: "reset" },
  resetAfterAccept: { kind: "resetAfterAccept" }
}

const kinds = (arg("--faults") ?? "")
  .split(",")
  .filter((name) => name !== "")
  .map((name) => {
    const fault = simple[name]
    if (fault === undefined) throw new Error(`unknown fault ${name}; known: ${Object.keys(simple).join(", ")}`)
    return fault
  })

const receiver = await startAmplitudeReceiver({
  apiKey: arg("--api-key") ?? "test-api-key",
  port: Number(arg("--port") ?? 0),
  host: arg("--host") ?? "127.0.0.1",
  keepEvents: flag("--keep-events"),
  ...(kinds.length === 0 ? {} : { faults: { kinds, probability: Number(arg("--fault-probability") ?? 0.1), seed: Number(arg("--fault-seed") ?? 1) } })
})
announceUntilSignalled(receiver, ["SIGTERM"])
