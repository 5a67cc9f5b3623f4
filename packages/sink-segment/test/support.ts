import { type ExportEvent, type Sink, decodeFeatBitRow } from "@featbit-export/core"
import { type SegmentReceiver, type SegmentReceiverOptions, segmentReceiver } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { SegmentSink, SegmentSinkConfig } from "../src/index.js"

export const WRITE_KEY = "wk_test_5ecret"

export const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

export const decodeConfig = (input: Record<string, unknown>): SegmentSinkConfig =>
  Schema.decodeUnknownSync(SegmentSinkConfig)({ writeKey: WRITE_KEY, ...input })

/** A receiver and a sink pointed at it. */
export const setup = (
  sinkOptions: Record<string, unknown> = {},
  receiverOptions: Partial<SegmentReceiverOptions> = {}
): Effect.Effect<{ receiver: SegmentReceiver; sink: Sink }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const receiver = yield* segmentReceiver({ writeKey: WRITE_KEY, ...receiverOptions })
    const sink = yield* SegmentSink.make(decodeConfig({ endpoint: receiver.url, requestTimeout: "10s", ...sinkOptions }), {
      pipeline: "test",
      baseDir: "."
    })
    return { receiver, sink }
  })

export const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

export { flagEvent, metricEvent } from "@featbit-export/testkit"
