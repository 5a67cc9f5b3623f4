import type { EventData, EventDataBatch } from "@azure/event-hubs"
import type { ExportEvent, RejectedEvent, SinkBatch, SinkError, SinkFields } from "@featbit-export/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import { partitionIndexOf } from "./partitions.js"
import type { EventHubMessage } from "./render.js"

/** One send: events of one partition, in cursor order, that fit the hub's limit together. */
export interface Send {
  readonly messages: ReadonlyArray<EventData>
  /** Packed and not sent yet; a retry packs the messages again (a batch that was sent may be spent). */
  batch: EventDataBatch | undefined
  done: boolean
}

/** One event of a lane, as the SDK will send it. */
export interface LaneItem {
  readonly event: ExportEvent
  readonly data: EventData
  /** Its body is the one `sink.map` computed (said when the event is too large). */
  readonly mappedBody: boolean
}

/** A page's events for one partition, in cursor order, and the sends they were packed into. */
export interface Lane {
  readonly partitionId: string
  readonly sequence: number
  readonly items: ReadonlyArray<LaneItem>
  /** Undefined until packed (packing needs the link's limit, so it can fail and is then tried again). */
  sends: ReadonlyArray<Send> | undefined
  rejected: ReadonlyArray<RejectedEvent>
  /** Settles once every send was accepted, or fails if the page was given up for good (a fatal error). */
  readonly finished: Deferred.Deferred<void, SinkError>
  done: boolean
}

/**
 * A page's sends, kept across the engine's retries of it so that a retry sends only what was not accepted.
 * It is registered before anything asynchronous happens, so later pages see it and wait for its lanes;
 * `planned` settles once its lanes are known (the hub's partition ids are read first, once).
 */
export interface Plan {
  readonly id: string
  readonly sequence: number
  readonly events: ReadonlyArray<ExportEvent>
  /** The page's mapped fields (`sink.map`), looked up per event as the page is split by partition. */
  readonly fields: SinkBatch["fields"]
  lanes: ReadonlyMap<string, Lane> | undefined
  readonly planned: Deferred.Deferred<void>
  /** Writes of this page running now; a plan nobody runs can be forgotten by a new run (see Ledger). */
  active: number
}

/**
 * The SDK sends a body of `null` as an empty data section, which is no JSON; a mapped body may be null, and
 * goes as the JSON text `null` like any other value. Every other body the SDK encodes as JSON itself.
 */
const NULL_BODY = Buffer.from("null", "utf8")

/**
 * Splits a page by partition, in cursor order: a keyed event (its mapped key, or the configured one) goes
 * where the service would put its key, an event without a key to the next partition round robin (the
 * counter lives across pages, so partitions fill evenly). Lanes come in the hub's partition order.
 */
export const assignLanes = (
  plan: Plan,
  partitionIds: ReadonlyArray<string>,
  toMessage: (event: ExportEvent, fields?: SinkFields) => EventHubMessage,
  roundRobin: { next: number }
): Effect.Effect<ReadonlyMap<string, Lane>> =>
  Effect.gen(function* () {
    const byIndex: Array<Array<LaneItem> | undefined> = new Array(partitionIds.length)
    for (const event of plan.events) {
      const fields = plan.fields?.(event)
      const message = toMessage(event, fields)
      const index =
        message.partitionKey === undefined ? roundRobin.next++ % partitionIds.length : partitionIndexOf(message.partitionKey, partitionIds.length)
      const items = (byIndex[index] ??= [])
      const body = message.body === null ? NULL_BODY : message.body
      items.push({
        event,
        data: { body, messageId: message.messageId, contentType: message.contentType, properties: message.properties },
        mappedBody: fields?.["body"] !== undefined
      })
    }
    const lanes = new Map<string, Lane>()
    for (let index = 0; index < partitionIds.length; index++) {
      const items = byIndex[index]
      if (items === undefined) continue
      const partitionId = partitionIds[index]!
      lanes.set(partitionId, {
        partitionId,
        sequence: plan.sequence,
        items,
        sends: undefined,
        rejected: [],
        finished: yield* Deferred.make<void, SinkError>(),
        done: false
      })
    }
    return lanes
  })

/**
 * Packs a lane's events, in order, into as few sends as the link's limit allows (`tryAdd` measures each
 * event as the SDK will encode it). An event that does not fit an empty batch is larger than the hub
 * accepts: it is rejected with the reason and the others are sent.
 */
export const packLane = <E>(
  lane: Lane,
  newBatch: (partitionId: string) => Effect.Effect<EventDataBatch, E>
): Effect.Effect<{ readonly sends: ReadonlyArray<Send>; readonly rejected: ReadonlyArray<RejectedEvent> }, E> =>
  Effect.gen(function* () {
    const sends: Array<Send> = []
    const rejected: Array<RejectedEvent> = []
    let batch = yield* newBatch(lane.partitionId)
    let messages: Array<EventData> = []
    for (const item of lane.items) {
      if (batch.tryAdd(item.data)) {
        messages.push(item.data)
        continue
      }
      if (messages.length > 0) {
        sends.push({ messages, batch, done: false })
        batch = yield* newBatch(lane.partitionId)
        messages = []
        if (batch.tryAdd(item.data)) {
          messages.push(item.data)
          continue
        }
      }
      rejected.push({
        event: item.event,
        reason: `the event${item.mappedBody ? " (its body from sink.map)" : ""} is larger than the hub's limit of ${batch.maxSizeInBytes} bytes per send (Event Hubs Basic accepts 256 KB, Standard 1 MB)`
      })
    }
    if (messages.length > 0) sends.push({ messages, batch, done: false })
    return { sends, rejected }
  })
