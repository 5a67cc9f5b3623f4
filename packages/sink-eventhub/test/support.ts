import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { Cursor, type ExportEvent, type FeatBitRow, type Sink, decodeFeatBitRow } from "@featbit-export/core"
import { type EventHubPeer, type EventHubPeerOptions, eventHubPeer } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { EventHubSink, EventHubSinkConfig } from "../src/index.js"

export const SECRET_KEY = "s3cretKeyValue/abc+123="

export const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

export const decodeConfig = (input: Record<string, unknown>): EventHubSinkConfig => Schema.decodeUnknownSync(EventHubSinkConfig)(input)

/** Short SDK retries so failing tests take milliseconds, not the SDK's 30 s defaults. */
export const FAST = { requestTimeout: "5s", sdkMaxRetries: 1, sdkRetryDelay: "20ms", serverBusyWait: "10ms" }

/** A peer and a sink pointed at it. */
export const setup = (
  sinkOptions: Record<string, unknown> = {},
  peerOptions: EventHubPeerOptions = {}
): Effect.Effect<{ peer: EventHubPeer; sink: Sink }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const peer = yield* eventHubPeer(peerOptions)
    const sink = yield* EventHubSink.make(decodeConfig({ connectionString: peer.connectionString(undefined, SECRET_KEY), ...FAST, ...sinkOptions }), {
      pipeline: "test",
      baseDir: "."
    })
    return { peer, sink }
  })

export const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

/**
 * The SDK's own key -> partition mapping (`EventHubBufferedProducerClient` assigns keys with it), loaded from
 * its internal module by path: the package does not export it. The reference the sink's mapping is held to.
 */
export const sdkMapper = async (): Promise<{
  readonly mapPartitionKeyToId: (key: string, partitionCount: number) => number
  readonly hashPartitionKey: (key: string) => number
}> => {
  const require = createRequire(import.meta.url)
  const dir = path.dirname(require.resolve("@azure/event-hubs/package.json"))
  return import(pathToFileURL(path.join(dir, "dist", "esm", "impl", "partitionKeyToIdMapper.js")).href)
}

/** The rows' events in cursor order `(timestamp, id)`, the order the engine hands them to the sink. */
export const eventsInCursorOrder = (rows: ReadonlyArray<FeatBitRow>): Array<ExportEvent> =>
  [...rows].sort(Cursor.compare).flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))
