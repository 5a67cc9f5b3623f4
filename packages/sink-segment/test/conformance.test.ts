import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { isFlagValue } from "@featbit-export/core"
import { setup } from "./support.js"

let round = 0

sinkConformance("segment", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.gen(function* () {
      const { receiver, sink } = yield* setup()
      return {
        sink,
        delivered: () => Effect.sync(() => receiver.messageIds("track")),
        injectTransient: (times: number) =>
          Effect.sync(() => {
            for (let i = 0; i < times; i++) receiver.enqueueFaults(round++ % 2 === 0 ? { kind: "503" } : { kind: "429", retryAfter: "0" })
          }),
        injectFatal: () => Effect.sync(() => receiver.setWriteKey("another-key")),
        poison: (event) =>
          isFlagValue(event) ? { ...event, flagKey: "x".repeat(40_000) } : { ...event, eventName: "x".repeat(40_000) }
      }
    })
})
