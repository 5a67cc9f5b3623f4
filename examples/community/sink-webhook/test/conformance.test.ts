import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { makeWebhookSink } from "../src/index.js"
import { makeReceiver, secretOf } from "./receiver.js"

let round = 0

sinkConformance("webhook", {
  supports: ["transient", "fatal"],
  make: () =>
    Effect.gen(function* () {
      const receiver = yield* makeReceiver("s3cret")
      const sink = makeWebhookSink({ url: receiver.url, secret: secretOf("s3cret"), timeoutMs: 10_000, maxInFlight: 4 })
      return {
        sink,
        delivered: () => Effect.sync(() => [...receiver.delivered]),
        injectTransient: (times: number) =>
          Effect.sync(() => {
            for (let i = 0; i < times; i++) receiver.faults.push(round++ % 2 === 0 ? { status: 503 } : { status: 429, retryAfter: "0" })
          }),
        injectFatal: () => Effect.sync(() => void (receiver.refuseWith = 403))
      }
    })
})
