import { isFlagValue } from "@featbit-export/core"
import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { setup, storedUuids } from "./support.js"

let round = 0

sinkConformance("posthog", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.gen(function* () {
      const { receiver, sink } = yield* setup()
      return {
        sink,
        delivered: () => Effect.sync(() => storedUuids(receiver)),
        injectTransient: (times: number) =>
          Effect.sync(() => {
            for (let i = 0; i < times; i++) receiver.fault(round++ % 2 === 0 ? { kind: "503" } : { kind: "429", retryAfter: "0" })
          }),
        injectFatal: () => Effect.sync(() => receiver.setApiKey("phc_anotherProjectKey")),
        // PostHog refuses a request holding an event without a name; the sink finds it by halving.
        poison: (event) => (isFlagValue(event) ? { ...event, flagKey: "x".repeat(1_100_000) } : { ...event, eventName: "" })
      }
    })
})
