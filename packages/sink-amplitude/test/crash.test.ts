import { amplitudeReceiver, killedHttpExport } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { it } from "vitest"
import { API_KEY, run } from "./support.js"

it("a run killed with SIGKILL three times and run to the end stores every event once under its insert_id", async () => {
  await run(
    Effect.gen(function* () {
      const receiver = yield* amplitudeReceiver({ apiKey: API_KEY })
      yield* Effect.promise(() =>
        killedHttpExport({
          sinkPackage: "sink-amplitude",
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
