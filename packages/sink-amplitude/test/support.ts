import { flagEvent as sampleFlagEvent, metricEvent as sampleMetricEvent } from "@featbit-export/testkit"
import { type ExportEvent, type Sink, Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import { type AmplitudeReceiver, type AmplitudeReceiverOptions, amplitudeReceiver } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { AmplitudeSink, AmplitudeSinkConfig } from "../src/index.js"

export const API_KEY = "amp_test_5ecret_key"

/** Rows stamped from an hour ago: the receiver's time window below refuses seconds or microseconds sent as ms. */
export const recentRows = (count: number, seed: number) =>
  [...generateRows({ count, seed, start: Timestamp.fromMillis(Date.now() - 60 * 60 * 1000) })]

export const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  recentRows(count, seed).flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

export const decodeConfig = (input: Record<string, unknown>): AmplitudeSinkConfig =>
  Schema.decodeUnknownSync(AmplitudeSinkConfig)({ apiKey: API_KEY, ...input })

/** A receiver and a sink pointed at it. */
export const setup = (
  sinkOptions: Record<string, unknown> = {},
  receiverOptions: Partial<AmplitudeReceiverOptions> = {}
): Effect.Effect<{ receiver: AmplitudeReceiver; sink: Sink }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const receiver = yield* amplitudeReceiver({
      apiKey: API_KEY,
      validTimeRange: { min: Date.parse("2020-01-01T00:00:00Z"), max: Date.now() + 24 * 60 * 60 * 1000 },
      ...receiverOptions
    })
    const sink = yield* AmplitudeSink.make(decodeConfig({ endpoint: receiver.url, requestTimeout: "10s", throttleWait: "10ms", ...sinkOptions }), {
      pipeline: "test",
      baseDir: "."
    })
    return { receiver, sink }
  })

export const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

/** The insert_ids the receiver stored. */
export const insertIds = (receiver: AmplitudeReceiver): Array<string> => receiver.events.map((e) => String(e["insert_id"]))

// Amplitude's own contract makes short ids interesting: this suite's user key is 2 characters (min_id_length).
const SHORT_USER = { keyId: "u1", name: "Ada" }
export const flagEvent = (overrides: Record<string, unknown> = {}): ExportEvent => sampleFlagEvent({ user: SHORT_USER, ...overrides })
export const metricEvent = (overrides: Record<string, unknown> = {}): ExportEvent => sampleMetricEvent({ user: SHORT_USER, ...overrides })
