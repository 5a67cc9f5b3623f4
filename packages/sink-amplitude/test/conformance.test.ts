import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { insertIds, setup } from "./support.js"

let round = 0

sinkConformance("amplitude", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.gen(function* () {
      const { receiver, sink } = yield* setup()
      return {
        sink,
        delivered: () => Effect.sync(() => insertIds(receiver)),
        injectTransient: (times: number) =>
          Effect.sync(() => {
            for (let i = 0; i < times; i++) receiver.fault(round++ % 2 === 0 ? { kind: "503" } : { kind: "429" })
          }),
        injectFatal: () => Effect.sync(() => receiver.setApiKey("another-key")),
        // "null" is on Amplitude's list of user ids it refuses.
        poison: (event) => ({ ...event, user: { keyId: "null", name: event.user.name } })
      }
    })
})
