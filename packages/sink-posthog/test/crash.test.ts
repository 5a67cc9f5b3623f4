import { countBy, killedHttpExport, postHogReceiver } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { it } from "vitest"
import { API_KEY, run } from "./support.js"

it("a run killed with SIGKILL three times and run to the end leaves one merged row per event, under its uuid", async () => {
  await run(
    Effect.gen(function* () {
      const receiver = yield* postHogReceiver({ apiKey: API_KEY })
      yield* Effect.promise(() =>
        killedHttpExport({
          sinkPackage: "sink-posthog",
          sinkExport: "PostHogSink",
          sinkKeys: `      type: posthog
      apiKey: \${POSTHOG_API_KEY}
      host: ${receiver.url}`,
          env: { POSTHOG_API_KEY: API_KEY },
          kept: () => {
            const stats = receiver.stats()
            // A uuid under two merge keys would count once in uniqueUuids but twice in mergedRows.
            return { stored: stats.mergedRows, ids: new Set(receiver.mergedRows().map((row) => row.uuid)), copies: countBy(receiver.rows.map((row) => row.uuid)) }
          }
        })
      )
    })
  )
}, 180_000)
