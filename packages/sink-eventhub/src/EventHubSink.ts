import { EventHubProducerClient } from "@azure/event-hubs"
import { type RejectedEvent, type Sink, SinkError, accepted, defineSink } from "@featbit-export/core"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { PLUGIN, classify } from "./classify.js"
import { configIssues } from "./configIssues.js"
import { operationDeadline, withDeadline } from "./deadline.js"
import { EventHubSinkConfig } from "./EventHubSinkConfig.js"
import { makeLedger } from "./ledger.js"
import { EVENTHUB_MAPPABLE } from "./mapped.js"
import { type Lane, type Plan, assignLanes, packLane } from "./plan.js"
import { render } from "./render.js"
import { resolveTarget } from "./target.js"

/**
 * `type: eventhub`: sends every event to an Azure event hub as JSON with its FeatBit id as `messageId`,
 * partitioned by the user key by default. The sink maps keys to partitions itself, as the service would, so
 * that each send carries one partition's events (as many as the link's limit allows) rather than one key's.
 */
export const EventHubSink = defineSink({
  type: PLUGIN,
  description:
    "Azure Event Hubs: JSON events (schemaVersion 1), messageId = FeatBit id, one batch per partition sized by the hub's limit (keys mapped to partitions as the service does), partition key = user",
  config: EventHubSinkConfig,
  configIssues,
  mappable: EVENTHUB_MAPPABLE,
  render: (config) => render(config),
  make: (config) =>
    Effect.gen(function* () {
      const target = yield* Either.match(resolveTarget(config), {
        onLeft: (message) => Effect.fail(SinkError.fatal(PLUGIN, message)),
        onRight: (value) => Effect.succeed(value)
      })
      const options = {
        retryOptions: {
          maxRetries: config.sdkMaxRetries,
          retryDelayInMs: Duration.toMillis(config.sdkRetryDelay),
          maxRetryDelayInMs: Duration.toMillis(config.sdkRetryDelay),
          timeoutInMs: Duration.toMillis(config.requestTimeout)
        }
      }
      const producer = yield* Effect.acquireRelease(
        Effect.try({
          try: () =>
            target.hub === undefined
              ? new EventHubProducerClient(target.connectionString, options)
              : new EventHubProducerClient(target.connectionString, target.hub, options),
          catch: (cause) => classify(cause, target, { serverBusyWait: config.serverBusyWait, doing: "reading the connection string" })
        }),
        (client) => Effect.promise(() => client.close().catch(() => undefined))
      )
      const toMessage = render(config)
      const deadline = withDeadline(operationDeadline(config), `Event Hubs ${target.where}`)
      /** One SDK call, bounded, its failure classified. */
      const call = <A>(doing: string, run: (abortSignal: AbortSignal) => Promise<A>): Effect.Effect<A, SinkError> =>
        Effect.tryPromise({
          try: run,
          catch: (cause) => classify(cause, target, { serverBusyWait: config.serverBusyWait, doing })
        }).pipe(deadline)

      let partitionIds: ReadonlyArray<string> | undefined
      // Read once: re-reading could move keys to other partitions mid-run, and a hub's partition count only
      // changes on purpose (Premium and Dedicated can add partitions; keys then map anew after a restart).
      const readPartitionIds = Effect.suspend(() =>
        partitionIds !== undefined
          ? Effect.succeed(partitionIds)
          : call("reading the hub's partitions", (abortSignal) => producer.getPartitionIds({ abortSignal })).pipe(
              Effect.tap((ids) => Effect.sync(() => void (partitionIds = ids)))
            )
      )
      const newBatch = (partitionId: string) => call("opening a sender", (abortSignal) => producer.createBatch({ partitionId, abortSignal }))
      const ledger = makeLedger()
      const roundRobin = { next: 0 }

      const plan = (page: Plan) =>
        Effect.gen(function* () {
          if (page.lanes !== undefined) return page.lanes
          const ids = yield* readPartitionIds
          // Assigning is synchronous: the lanes appear all at once, before any later page can look.
          const lanes = yield* assignLanes(page, ids, toMessage, roundRobin)
          page.lanes = lanes
          yield* Deferred.succeed(page.planned, undefined)
          return lanes
        })

      /**
       * Packs the lane (CPU work, done while earlier pages are still sending to the partition), waits for
       * its turn, then sends its batches one after another, stopping at the first failure so that the
       * partition's order is kept; a retry resumes at that batch.
       */
      const sendLane = (lane: Lane) =>
        Effect.gen(function* () {
          if (lane.done) return
          if (lane.sends === undefined) {
            const packed = yield* packLane(lane, newBatch)
            lane.sends = packed.sends
            lane.rejected = packed.rejected
          }
          yield* ledger.awaitTurn(lane)
          for (const send of lane.sends) {
            if (send.done) continue
            let batch = send.batch
            if (batch === undefined) {
              const fresh = yield* newBatch(lane.partitionId)
              for (const message of send.messages) {
                if (!fresh.tryAdd(message)) {
                  return yield* Effect.fail(SinkError.transient(PLUGIN, `the hub's limit shrank to ${fresh.maxSizeInBytes} bytes between two attempts of a send`))
                }
              }
              batch = fresh
            }
            send.batch = undefined
            const sending = batch
            yield* call("sending events", (abortSignal) => producer.sendBatch(sending, { abortSignal }))
            send.done = true
          }
          yield* ledger.finish(lane)
        })

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return accepted
          const page = yield* ledger.enter(`${batch.sequence}:${batch.events[0]!.id}:${batch.events.length}`, batch)
          return yield* Effect.acquireUseRelease(
            Effect.sync(() => void (page.active += 1)),
            () => sendPage(page),
            () => Effect.sync(() => void (page.active -= 1))
          )
        })

      const sendPage = (page: Plan) =>
        Effect.gen(function* () {
          const lanes = [...(yield* plan(page)).values()]
          const results = yield* Effect.forEach(lanes, (lane) => Effect.either(sendLane(lane)), { concurrency: config.concurrency })
          const failures = results.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
          if (failures.length > 0) {
            const fatal = failures.find((failure) => !failure.retryable)
            const first = fatal ?? failures[0]!
            const sends = lanes.reduce((n, lane) => n + (lane.sends?.length ?? 1), 0)
            const message = failures.length === 1 ? first.message : `${failures.length} of ${sends} sends failed; the first: ${first.message}`
            const waits = failures.flatMap((failure) => (failure.retryAfter === undefined ? [] : [failure.retryAfter]))
            const error =
              fatal !== undefined
                ? SinkError.fatal(PLUGIN, message, first.cause)
                : SinkError.transient(PLUGIN, message, {
                    cause: first.cause,
                    retryAfter: waits.length === 0 ? undefined : waits.reduce((a, b) => Duration.max(a, b))
                  })
            // Given up for good: the later pages waiting for this one's partitions fail with it instead.
            if (fatal !== undefined) yield* ledger.drop(page, error)
            return yield* Effect.fail(error)
          }
          yield* ledger.drop(page)
          const rejected: Array<RejectedEvent> = lanes.flatMap((lane) => lane.rejected)
          return rejected.length === 0 ? accepted : { rejected }
        })

      const check = Effect.gen(function* () {
        const properties = yield* call("reading the hub's properties", (abortSignal) => producer.getEventHubProperties({ abortSignal }))
        const probe = yield* newBatch(properties.partitionIds[0] ?? "0")
        return [
          `Event Hubs ${target.where} is reachable and accepted the credentials: hub "${properties.name}" with ${properties.partitionIds.length} partitions (${properties.partitionIds.join(", ")})`,
          `a send may carry up to ${probe.maxSizeInBytes} bytes (the link's limit)`
        ]
      })

      const sink: Sink = { write, check }
      return sink
    })
})
