import { EventHubProducerClient, type EventData, type EventDataBatch } from "@azure/event-hubs"
import { type ExportEvent, type RejectedEvent, type Sink, SinkError, accepted, defineSink } from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { EventHubSinkConfig } from "./EventHubSinkConfig.js"
import { render } from "./render.js"

const PLUGIN = "eventhub"

/** Where the sink sends: a connection string (never printed), the hub, and a printable description. */
export interface EventHubTarget {
  readonly connectionString: string
  readonly hub: string | undefined
  /** `host/hub`, safe to print. */
  readonly where: string
  readonly secrets: ReadonlyArray<string>
}

const field = (connectionString: string, name: string): string | undefined => {
  for (const part of connectionString.split(";")) {
    const at = part.indexOf("=")
    if (at > 0 && part.slice(0, at).trim().toLowerCase() === name.toLowerCase()) return part.slice(at + 1).trim()
  }
  return undefined
}

/** Resolves the configuration to a connection string; fails with a sentence when it names no destination. */
export const resolveTarget = (config: EventHubSinkConfig): Either.Either<EventHubTarget, string> => {
  if (config.connectionString !== undefined) {
    const cs = Redacted.value(config.connectionString)
    const endpoint = field(cs, "Endpoint")
    if (endpoint === undefined) return Either.left("sink.connectionString has no Endpoint=sb://...: copy it from the hub's or namespace's Shared access policies")
    const hub = config.hub ?? field(cs, "EntityPath")
    if (hub === undefined) return Either.left("name the event hub: set sink.hub, or use a connection string with EntityPath=<hub>")
    const host = endpoint.replace(/^[a-z]+:\/\//i, "").replace(/\/+$/, "")
    const secrets = [cs, field(cs, "SharedAccessKey"), field(cs, "SharedAccessSignature")].filter((s): s is string => s !== undefined && s !== "")
    return Either.right({ connectionString: cs, hub: config.hub, where: `${host}/${hub}`, secrets })
  }
  if (config.namespace === undefined || config.sasKeyName === undefined || config.sasKey === undefined || config.hub === undefined) {
    return Either.left("configure the event hub: either sink.connectionString, or sink.namespace, sink.hub, sink.sasKeyName and sink.sasKey")
  }
  const host = config.namespace.includes(".") ? config.namespace : `${config.namespace}.servicebus.windows.net`
  const key = Redacted.value(config.sasKey)
  const cs = `Endpoint=sb://${host}/;SharedAccessKeyName=${config.sasKeyName};SharedAccessKey=${key}`
  return Either.right({ connectionString: cs, hub: config.hub, where: `${host}/${config.hub}`, secrets: [cs, key].filter((s) => s !== "") })
}

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"])

/** Maps an error of the Azure SDK to a `SinkError` whose message never contains a secret. */
export const classify = (
  cause: unknown,
  target: Pick<EventHubTarget, "where" | "secrets">,
  options: { readonly serverBusyWait: Duration.Duration; readonly doing: string }
): SinkError => {
  // After its own retries the SDK throws an AggregateError of each attempt's error: the last one counts.
  const errors = (cause as { errors?: unknown } | null | undefined)?.errors
  if (Array.isArray(errors) && errors.length > 0) {
    const last = classify(errors[errors.length - 1], target, options)
    return new SinkError({ plugin: PLUGIN, message: last.message, retryable: last.retryable, retryAfter: last.retryAfter, cause })
  }
  const error = (typeof cause === "object" && cause !== null ? cause : {}) as { code?: unknown; name?: unknown; message?: unknown; retryable?: unknown }
  const code = typeof error.code === "string" ? error.code : typeof error.name === "string" ? error.name : "Error"
  let said = typeof error.message === "string" ? error.message : String(cause)
  for (const secret of target.secrets) said = said.split(secret).join("<redacted>")
  said = said.replace(/(SharedAccessKey|SharedAccessSignature|sig)=[^;&\s]+/gi, "$1=<redacted>").slice(0, 300)
  const at = `Event Hubs ${target.where}`
  switch (code) {
    case "MessagingEntityNotFoundError":
      return SinkError.fatal(PLUGIN, `${at} does not exist (${code}): check the hub's name (sink.hub or EntityPath=) and the namespace`, cause)
    case "UnauthorizedError":
      return SinkError.fatal(
        PLUGIN,
        `${at} refused the credentials while ${options.doing} (${code}): check the shared access key in sink.connectionString or sink.sasKey; its policy needs the Send claim`,
        cause
      )
    case "QuotaExceededError":
      return SinkError.fatal(PLUGIN, `${at} refused the send, a quota is exhausted (${code}: ${said}): raise the namespace's throughput or processing units, or its tier`, cause)
    case "MessageTooLargeError":
      return SinkError.fatal(PLUGIN, `${at} refused a batch as too large (${code}: ${said})`, cause)
    case "ServerBusyError":
      return SinkError.transient(PLUGIN, `${at} is busy while ${options.doing} (${code}: ${said})`, { cause, retryAfter: options.serverBusyWait })
  }
  if (CONNECTION_CODES.has(code) || error.retryable === true || code === "AbortError") {
    return SinkError.transient(PLUGIN, `${at} failed while ${options.doing} (${code}: ${said})`, { cause })
  }
  if (error.name === "MessagingError" && error.retryable !== false) {
    return SinkError.transient(PLUGIN, `${at} failed while ${options.doing} (${code}: ${said})`, { cause })
  }
  return SinkError.fatal(PLUGIN, `${at} failed while ${options.doing} (${code}: ${said})`, cause)
}

/** One send: events of one partition key, in order, that fit the hub's limit together. */
interface Unit {
  readonly key: string | undefined
  readonly messages: ReadonlyArray<EventData>
  batch: EventDataBatch | undefined
  done: boolean
}

/** A batch's sends, grouped by partition key; kept across the engine's retries so a retry sends only the rest. */
interface Plan {
  readonly groups: ReadonlyArray<ReadonlyArray<Unit>>
  readonly rejected: ReadonlyArray<RejectedEvent>
}

/**
 * `type: eventhub`: sends every event to an Azure event hub as JSON with its FeatBit id as `messageId`,
 * in batches sized by the hub's own limit (read from the AMQP link), partitioned by the user key by
 * default.
 */
export const EventHubSink = defineSink({
  type: PLUGIN,
  description: "Azure Event Hubs: JSON events (schemaVersion 1), messageId = FeatBit id, batches sized by the hub's limit, partition key = user",
  config: EventHubSinkConfig,
  render: (config) => render(config),
  make: (config) =>
    Effect.gen(function* () {
      const target = yield* Either.match(resolveTarget(config), {
        onLeft: (message) => Effect.fail(SinkError.fatal(PLUGIN, message)),
        onRight: (value) => Effect.succeed(value)
      })
      const timeoutInMs = Duration.toMillis(config.requestTimeout)
      const options = {
        retryOptions: {
          maxRetries: config.sdkMaxRetries,
          retryDelayInMs: Duration.toMillis(config.sdkRetryDelay),
          maxRetryDelayInMs: Duration.toMillis(config.sdkRetryDelay),
          timeoutInMs
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
      const fail = (doing: string) => (cause: unknown) => classify(cause, target, { serverBusyWait: config.serverBusyWait, doing })
      const plans = new Map<string, Plan>()

      const newBatch = (key: string | undefined) =>
        Effect.tryPromise({
          try: (abortSignal) => producer.createBatch(key === undefined ? { abortSignal } : { partitionKey: key, abortSignal }),
          catch: fail("opening a sender")
        })

      const makePlan = (events: ReadonlyArray<ExportEvent>) =>
        Effect.gen(function* () {
          const byKey = new Map<string | undefined, Array<{ event: ExportEvent; data: EventData }>>()
          for (const event of events) {
            const message = toMessage(event)
            const list = byKey.get(message.partitionKey) ?? []
            byKey.set(message.partitionKey, list)
            list.push({
              event,
              data: { body: message.body, messageId: message.messageId, contentType: message.contentType, properties: message.properties }
            })
          }
          const rejected: Array<RejectedEvent> = []
          const groups: Array<Array<Unit>> = []
          for (const [key, items] of byKey) {
            const units: Array<Unit> = []
            let batch = yield* newBatch(key)
            let messages: Array<EventData> = []
            for (const item of items) {
              if (batch.tryAdd(item.data)) {
                messages.push(item.data)
                continue
              }
              if (messages.length > 0) {
                units.push({ key, messages, batch, done: false })
                batch = yield* newBatch(key)
                messages = []
                if (batch.tryAdd(item.data)) {
                  messages.push(item.data)
                  continue
                }
              }
              rejected.push({
                event: item.event,
                reason: `the event is larger than the hub's limit of ${batch.maxSizeInBytes} bytes per send (Event Hubs Basic accepts 256 KB, Standard 1 MB)`
              })
            }
            if (messages.length > 0) units.push({ key, messages, batch, done: false })
            if (units.length > 0) groups.push(units)
          }
          return { groups, rejected } satisfies Plan
        })

      /** Sends one key's units in order; stops at the first failure so the key's order is kept. */
      const sendGroup = (units: ReadonlyArray<Unit>) =>
        Effect.gen(function* () {
          for (const unit of units) {
            if (unit.done) continue
            let batch = unit.batch
            if (batch === undefined) {
              // A retry: build the batch again (the first one may be spent).
              const fresh = yield* newBatch(unit.key)
              for (const message of unit.messages) {
                if (!fresh.tryAdd(message)) {
                  return yield* Effect.fail(SinkError.transient(PLUGIN, `the hub's limit shrank to ${fresh.maxSizeInBytes} bytes between two attempts of a send`))
                }
              }
              batch = fresh
            }
            unit.batch = undefined
            yield* Effect.tryPromise({ try: (abortSignal) => producer.sendBatch(batch, { abortSignal }), catch: fail("sending events") })
            unit.done = true
          }
        })

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return accepted
          const id = `${batch.sequence}:${batch.events[0]!.id}:${batch.events.length}`
          const plan = plans.get(id) ?? (yield* makePlan(batch.events))
          plans.set(id, plan)
          const results = yield* Effect.forEach(plan.groups, (units) => Effect.either(sendGroup(units)), { concurrency: config.concurrency })
          const failures = results.flatMap((result) => (Either.isLeft(result) ? [result.left] : []))
          if (failures.length > 0) {
            const fatal = failures.find((failure) => !failure.retryable)
            const first = fatal ?? failures[0]!
            if (fatal !== undefined) plans.delete(id)
            const sends = plan.groups.reduce((n, units) => n + units.length, 0)
            const message = failures.length === 1 ? first.message : `${failures.length} of ${sends} sends failed; the first: ${first.message}`
            const waits = failures.flatMap((failure) => (failure.retryAfter === undefined ? [] : [failure.retryAfter]))
            return yield* Effect.fail(
              fatal !== undefined
                ? SinkError.fatal(PLUGIN, message, first.cause)
                : SinkError.transient(PLUGIN, message, {
                    cause: first.cause,
                    retryAfter: waits.length === 0 ? undefined : waits.reduce((a, b) => Duration.max(a, b))
                  })
            )
          }
          plans.delete(id)
          return plan.rejected.length === 0 ? accepted : { rejected: plan.rejected }
        })

      const check = Effect.gen(function* () {
        const properties = yield* Effect.tryPromise({
          try: (abortSignal) => producer.getEventHubProperties({ abortSignal }),
          catch: fail("reading the hub's properties")
        })
        const probe = yield* newBatch(undefined)
        return [
          `Event Hubs ${target.where} is reachable and accepted the credentials: hub "${properties.name}" with ${properties.partitionIds.length} partitions (${properties.partitionIds.join(", ")})`,
          `a send may carry up to ${probe.maxSizeInBytes} bytes (the link's limit)`
        ]
      })

      const sink: Sink = { write, check }
      return sink
    })
})
