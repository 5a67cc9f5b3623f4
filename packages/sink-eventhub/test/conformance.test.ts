import { isFlagValue } from "@featbit-export/core"
import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { setup } from "./support.js"

let round = 0

sinkConformance("eventhub", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.gen(function* () {
      // Basic tier: 256 KB per send; no SDK retries and a hub of one partition, so a write's sends go one
      // after another and stop at the first refusal: each injected server-busy fails one write (the suite
      // counts the engine's retries).
      const { peer, sink } = yield* setup({ sdkMaxRetries: 0 }, { maxMessageSize: 262_144, partitionCount: 1 })
      return {
        sink,
        delivered: () => Effect.sync(() => peer.events().map((e) => e.messageId ?? "")),
        injectTransient: (times: number) => Effect.sync(() => peer.rejectNext(times, "com.microsoft:server-busy")),
        injectFatal: () => Effect.sync(() => peer.rejectAll(round++ % 2 === 0 ? "amqp:unauthorized-access" : "amqp:resource-limit-exceeded")),
        poison: (event) =>
          isFlagValue(event) ? { ...event, flagKey: "x".repeat(300_000) } : { ...event, eventName: "x".repeat(300_000) }
      }
    })
})
