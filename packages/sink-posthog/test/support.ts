import { type ExportEvent, type Sink, type SinkError, decodeFeatBitRow } from "@featbit-export/core"
import { type PostHogReceiver, type PostHogReceiverOptions, postHogReceiver } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { PostHogSink, PostHogSinkConfig } from "../src/index.js"

export const API_KEY = "phc_TestProjectKey5ecret0123456789"

export const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

export const decodeConfig = (input: Record<string, unknown>): PostHogSinkConfig =>
  Schema.decodeUnknownSync(PostHogSinkConfig)({ apiKey: API_KEY, ...input })

export const makeSink = (config: Record<string, unknown>): Effect.Effect<Sink, SinkError, Scope.Scope> =>
  PostHogSink.make(decodeConfig(config), { pipeline: "test", baseDir: "." })

/** A receiver and a sink pointed at it. */
export const setup = (
  sinkOptions: Record<string, unknown> = {},
  receiverOptions: Partial<PostHogReceiverOptions> = {}
): Effect.Effect<{ receiver: PostHogReceiver; sink: Sink }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const receiver = yield* postHogReceiver({ apiKey: API_KEY, ...receiverOptions })
    const sink = yield* makeSink({ host: receiver.url, requestTimeout: "10s", ...sinkOptions })
    return { receiver, sink }
  })

export const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

export const failure = <A>(result: Either.Either<A, SinkError>): SinkError => {
  if (Either.isRight(result)) throw new Error("the write succeeded")
  return result.left
}

export { flagEvent, metricEvent } from "@featbit-export/testkit"

/** The uuid of every stored row, in arrival order, duplicates included. */
export const storedUuids = (receiver: PostHogReceiver): Array<string> => receiver.rows.map((row) => row.uuid)
