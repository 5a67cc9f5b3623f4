import { countBy, killedHttpExport, mixpanelReceiver } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { it } from "vitest"
import { PROJECT_ID, SA_SECRET, SA_USER, receiverOptions } from "./support.js"

it("a run killed with SIGKILL three times and run to the end stores every event once by Mixpanel's dedupe 4-tuple", async () => {
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const receiver = yield* mixpanelReceiver(receiverOptions())
        yield* Effect.promise(() =>
          killedHttpExport({
            sinkPackage: "sink-mixpanel",
            sinkExport: "MixpanelSink",
            sinkKeys: `      type: mixpanel
      serviceAccount:
        username: "${SA_USER}"
        secret: \${MIXPANEL_SA_SECRET}
      projectId: "${PROJECT_ID}"
      endpoint: ${receiver.url}`,
            env: { MIXPANEL_SA_SECRET: SA_SECRET },
            kept: () => ({
              stored: receiver.stats().unique,
              ids: new Set(receiver.events.map((event) => String(event.properties["featbitId"]))),
              copies: countBy([...receiver.events, ...receiver.duplicates].map((event) => String(event.properties["featbitId"])))
            })
          })
        )
      })
    )
  )
}, 180_000)
