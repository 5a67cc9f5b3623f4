import { type ExportEvent, type SinkFields, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { WEBHOOK_MAPPABLE, WebhookSink, idempotencyKey, makeWebhookSink } from "../src/index.js"
import { makeReceiver, secretOf } from "./receiver.js"

const events = (count: number): Array<ExportEvent> =>
  [...generateRows({ count, seed: 5 })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

/** `batch.fields` as the engine builds it: looked up by the event object itself. */
const fieldsOf = (entries: ReadonlyArray<readonly [ExportEvent, SinkFields]>) => {
  const byEvent = new Map(entries)
  return (event: ExportEvent) => byEvent.get(event)
}

describe("webhook sink: mapped body (sink.map)", () => {
  it("declares body as a dyn field", () => {
    expect(WebhookSink.mappable).toBe(WEBHOOK_MAPPABLE)
    expect(WebhookSink.mappable!["body"]!.type).toBe("dyn")
  })

  it("posts the mapped body as the event's item, signed; an event without fields is posted whole", async () => {
    const batch = events(3)
    const [a, b, plain] = batch as [ExportEvent, ExportEvent, ExportEvent]
    const receiver = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const receiver = yield* makeReceiver("k")
          const sink = makeWebhookSink({ url: receiver.url, secret: secretOf("k"), timeoutMs: 5_000, maxInFlight: 1 })
          yield* sink.write({
            events: batch,
            sequence: 0,
            fields: fieldsOf([
              [a, { body: { id: a.id, kind: a.event, user: a.user.keyId } }],
              [b, { body: null }]
            ])
          })
          return receiver
        })
      )
    )
    // The receiver checked the signature over the body as sent: none was refused.
    expect(receiver.badSignatures()).toBe(0)
    expect(receiver.items).toEqual([{ id: a.id, kind: a.event, user: a.user.keyId }, null, JSON.parse(JSON.stringify(plain))])
    // The batch keeps its key, from the events' ids, whatever the items hold.
    expect(receiver.idempotencyKeys).toEqual([idempotencyKey(batch)])
  })

  it("render applies the mapped body", () => {
    const [event] = events(1) as [ExportEvent]
    const render = WebhookSink.render!({ url: "https://hooks.example.com/featbit", secret: secretOf("k"), timeoutMs: 1_000, maxInFlight: 1 })
    expect(render(event, { body: { flag: "new-checkout" } })).toEqual({ events: [{ flag: "new-checkout" }] })
    expect(render(event)).toEqual({ events: [event] })
  })
})
