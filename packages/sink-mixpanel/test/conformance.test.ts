import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { authProxy, decodeConfig, featbitIds, makeSink, receiverOptions } from "./support.js"
import { mixpanelReceiver } from "@featbit-export/testkit"

let round = 0

sinkConformance("mixpanel", {
  supports: ["transient", "fatal", "poison"],
  make: () =>
    Effect.gen(function* () {
      const receiver = yield* mixpanelReceiver(receiverOptions())
      const proxy = yield* authProxy(receiver)
      const sink = yield* makeSink(decodeConfig({ endpoint: proxy.url, requestTimeout: "10s" }))
      return {
        sink,
        delivered: () => Effect.sync(() => featbitIds(receiver)),
        injectTransient: (times: number) =>
          Effect.sync(() => {
            for (let i = 0; i < times; i++) {
              const kind = round++ % 3
              receiver.fault(kind === 0 ? { kind: "503" } : kind === 1 ? { kind: "429", retryAfter: "0" } : { kind: "429" })
            }
          }),
        injectFatal: () => Effect.sync(() => proxy.refuseAuth()),
        // A user key on Mixpanel's distinct_id deny list: its validation refuses the event (strict=1).
        poison: (event) => ({ ...event, user: { ...event.user, keyId: "undefined" } })
      }
    })
})
