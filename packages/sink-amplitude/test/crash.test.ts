import { amplitudeReceiver, killedHttpExport } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { it } from "vitest"
import { API_KEY, run } from "./support.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")

it("a run killed with SIGKILL three times and run to the end stores every event once under its insert_id", async () => {
  await run(
    Effect.gen(function* () {
      const receiver = yield* amplitudeReceiver({ apiKey: API_KEY })
      yield* Effect.promise(() =>
        killedHttpExport({
          label: "amplitude",
          runnerIndex: path.join(root, "apps", "runner", "dist", "index.js"),
          sinkIndex: path.join(root, "packages", "sink-amplitude", "dist", "index.js"),
          sinkExport: "AmplitudeSink",
          sinkKeys: `      type: amplitude
      apiKey: \${AMPLITUDE_API_KEY}
      endpoint: ${receiver.url}`,
          env: { AMPLITUDE_API_KEY: API_KEY },
          kept: () => ({
            stored: receiver.stats().stored,
            ids: new Set(receiver.events.map((event) => String(event["insert_id"]))),
            copies: receiver.copiesByInsertId
          })
        })
      )
    })
  )
}, 180_000)
