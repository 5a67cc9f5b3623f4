import type { AddressInfo, Server } from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import rhea from "rhea"

/** The AMQP message format of a batched send (`EventDataBatch`): one transfer carrying many events. */
const BATCH_FORMAT = 0x80013700

/** One event the peer accepted, decoded from its (possibly batched) transfer. */
export interface EventHubReceivedEvent {
  readonly messageId: string | undefined
  readonly contentType: string | undefined
  readonly properties: Readonly<Record<string, unknown>>
  /** `x-opt-partition-key` of the event (or of its batch envelope). */
  readonly partitionKey: string | undefined
  /** The partition the peer stored it in. */
  readonly partition: string
  readonly body: Buffer
}

/** One accepted transfer: its size on the wire and how many events it carried. */
export interface EventHubTransfer {
  readonly bytes: number
  readonly events: number
  readonly partition: string
  /** The link's partition (`<hub>/Partitions/<id>`), undefined for a send to the hub itself. */
  readonly partitionLink: string | undefined
  /** `x-opt-partition-key` of the batch envelope (a send with a partition key), if any. */
  readonly partitionKey: string | undefined
}

/** What a fault rule sees of a transfer before it is settled. */
export interface EventHubAttempt {
  /** The partition of the link it came on, undefined for a send to the hub itself. */
  readonly partition: string | undefined
}

export type EventHubRejection = "com.microsoft:server-busy" | "amqp:resource-limit-exceeded" | "amqp:unauthorized-access"

export interface EventHubPeerOptions {
  /** The hub's name (default "hub"). */
  readonly hub?: string
  readonly partitionCount?: number
  /** The link's `max_message_size`: 262144 (Basic) or 1048576 (Standard, the default). */
  readonly maxMessageSize?: number
  /** Keep the accepted events (default true); false keeps only counts (`accepted`), for benchmarks. */
  readonly retainEvents?: boolean
  /**
   * Settle each transfer this many milliseconds after it arrived (default 0: at once), like a hub a network
   * away: sends overlap, so `maxInFlight` shows how many a client keeps outstanding.
   */
  readonly settleDelayMs?: number
}

/**
 * A minimal Event Hubs AMQP 1.0 peer for tests, on plain TCP: answers `$cbs` put-token (202, or 404 for
 * another hub), `$management` READ of the hub and its partitions, accepts sends (single or batched) on
 * the hub and on `<hub>/Partitions/<id>`, stores every event per partition, and injects faults.
 */
export interface EventHubPeer {
  readonly port: number
  readonly hub: string
  /** A connection string in the emulator form (plain TCP) for the given hub (default: this peer's). */
  readonly connectionString: (hub?: string, key?: string) => string
  /** Every accepted event, in arrival order, duplicates included. */
  readonly events: () => ReadonlyArray<EventHubReceivedEvent>
  /** The accepted events of one partition, in arrival order. */
  readonly partition: (id: string) => ReadonlyArray<EventHubReceivedEvent>
  readonly transfers: () => ReadonlyArray<EventHubTransfer>
  /** How many events were accepted (duplicates included), retained or not. */
  readonly accepted: () => number
  /** Transfers that reached the peer (accepted, rejected, dropped or stalled). */
  readonly attempts: () => number
  /** How many transfers were accepted, retained or not. */
  readonly acceptedTransfers: () => number
  /**
   * Rejects the next `times` transfers with the condition; `description` replaces the peer's own (a hub or a
   * proxy in front of it that quotes what it should not, for tests of what the sender lets through).
   */
  readonly rejectNext: (times: number, condition: EventHubRejection, description?: string) => void
  /**
   * Rejects every transfer whose number (from 1, counting all attempts) and partition satisfy the
   * predicate.
   */
  readonly rejectWhen: (predicate: (attempt: number, transfer: EventHubAttempt) => boolean, condition: EventHubRejection) => void
  /** Forgets the rules of `rejectWhen`, `rejectAll` and `rejectNext`. */
  readonly clearRejections: () => void
  /** Rejects every further transfer with the condition (a revoked key, an exhausted quota); see `rejectNext` for `description`. */
  readonly rejectAll: (condition: EventHubRejection, description?: string) => void
  /** On the next `times` transfers: drops the client's connection (socket destroyed) without settling. */
  readonly dropOnNext: (times: number) => void
  /** Drops the connection (without settling) on the transfers with these numbers (from 1, counting all attempts). */
  readonly dropOnAttempts: (...attempts: ReadonlyArray<number>) => void
  /** How many transfers were dropped so far. */
  readonly dropped: () => number
  /** Drops every open connection now. */
  readonly dropConnections: () => void
  /**
   * Never settles the next `times` transfers (no accept, no reject, the connection stays up): a stalled
   * hub. Their events are not stored.
   */
  readonly stallNext: (times: number) => void
  /** How many transfers were left unsettled so far. */
  readonly stalled: () => number
  /** The most transfers that were unsettled at once on one partition's link (stalled ones not counted). */
  readonly maxInFlightPerPartition: () => number
  /** The most transfers that were unsettled at once, over all links (stalled ones not counted). */
  readonly maxInFlight: () => number
}

/**
 * The partition of a key sent to the hub itself: the char-code sum modulo the partition count, as Azure's
 * mock hub does (the service hashes the key's UTF-8 bytes instead; a client that needs the service's
 * placement sends to partition ids).
 */
export const eventHubPartitionOf = (key: string, partitionCount: number): string => {
  let sum = 0
  for (let i = 0; i < key.length; i++) sum += key.charCodeAt(i)
  return String(sum % partitionCount)
}

interface Decoded {
  readonly message_id?: unknown
  readonly content_type?: unknown
  readonly application_properties?: Record<string, unknown>
  readonly message_annotations?: Record<string, unknown>
  readonly body?: unknown
}

const bodyBuffer = (body: unknown): Buffer => {
  if (Buffer.isBuffer(body)) return body
  const content = (body as { content?: unknown } | undefined)?.content
  if (Buffer.isBuffer(content)) return content
  return Buffer.from(typeof body === "string" ? body : JSON.stringify(body ?? null))
}

/** Starts a peer on 127.0.0.1 (a free port); it stops when the scope closes. */
export const eventHubPeer = (options: EventHubPeerOptions = {}): Effect.Effect<EventHubPeer, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(() => startEventHubPeer(options)), (peer) => Effect.promise(() => peer.stop()))

/** Starts a peer outside Effect (for scripts); `stop` closes it. */
export const startEventHubPeer = async (options: EventHubPeerOptions = {}): Promise<EventHubPeer & { readonly stop: () => Promise<void> }> => {
  const hub = options.hub ?? "hub"
  const partitionCount = options.partitionCount ?? 2
  const maxMessageSize = options.maxMessageSize ?? 1_048_576
  const partitionIds = Array.from({ length: partitionCount }, (_, i) => String(i))
  const stored: Array<EventHubReceivedEvent> = []
  const transfers: Array<EventHubTransfer> = []
  const rejections: Array<{ readonly condition: EventHubRejection; readonly description?: string | undefined }> = []
  const rules: Array<{ predicate: (attempt: number, transfer: EventHubAttempt) => boolean; condition: EventHubRejection }> = []
  const settleDelayMs = options.settleDelayMs ?? 0
  let stalls = 0
  let stalledCount = 0
  let transferCount = 0
  const inFlight = new Map<string, number>()
  let inFlightTotal = 0
  let peakPerPartition = 0
  let peakTotal = 0
  let rejectEverything: { readonly condition: EventHubRejection; readonly description?: string | undefined } | undefined
  let drops = 0
  let acceptedCount = 0
  const retain = options.retainEvents ?? true
  let droppedCount = 0
  const dropAt = new Set<number>()
  let attempts = 0
  const connections = new Set<rhea.Connection>()

  const container = rhea.create_container({ id: "featbit-export-eventhub-peer" })

  const audienceOk = (audience: string): boolean => {
    const path = audience.replace(/^[a-z]+:\/\/[^/]+\//i, "")
    return path === hub || path === `${hub}/$management` || partitionIds.some((id) => path === `${hub}/Partitions/${id}`)
  }

  const senders = new Map<rhea.Connection, Map<string, rhea.Sender>>()
  const reply = (connection: rhea.Connection, to: unknown, message: Record<string, unknown>): void => {
    senders.get(connection)?.get(String(to))?.send(message as unknown as rhea.Message)
  }

  container.on("connection_open", (context: rhea.EventContext) => {
    connections.add(context.connection)
  })
  container.on("connection_close", (context: rhea.EventContext) => {
    connections.delete(context.connection)
  })
  container.on("disconnected", (context: rhea.EventContext) => {
    connections.delete(context.connection)
  })
  container.on("error", () => {})
  container.on("connection_error", () => {})

  container.on("sender_open", (context: rhea.EventContext) => {
    const sender = context.sender!
    sender.set_source(sender.source)
    sender.set_target(sender.target)
    const byName = senders.get(context.connection) ?? new Map<string, rhea.Sender>()
    senders.set(context.connection, byName)
    byName.set(sender.name, sender)
  })

  container.on("receiver_open", (context: rhea.EventContext) => {
    const receiver = context.receiver!
    receiver.set_source(receiver.source)
    receiver.set_target(receiver.target)
  })

  const cbs = (context: rhea.EventContext, message: Decoded & { reply_to?: unknown }): void => {
    const audience = String(message.application_properties?.["name"] ?? "")
    const ok = audienceOk(audience)
    reply(context.connection, message.reply_to, {
      correlation_id: message.message_id as string,
      application_properties: ok
        ? { "status-code": 202, "status-description": "Accepted" }
        : { "status-code": 404, "status-description": `The messaging entity '${audience}' could not be found.` }
    })
  }

  const management = (context: rhea.EventContext, message: Decoded & { reply_to?: unknown }): void => {
    const props = message.application_properties ?? {}
    const name = String(props["name"] ?? "")
    const correlation_id = message.message_id as string
    if (name !== hub) {
      reply(context.connection, message.reply_to, {
        correlation_id,
        application_properties: { "status-code": 404, "status-description": `The messaging entity '${name}' could not be found.` }
      })
      return
    }
    if (props["type"] === "com.microsoft:partition") {
      const partition = String(props["partition"] ?? "")
      const count = stored.filter((e) => e.partition === partition).length
      reply(context.connection, message.reply_to, {
        correlation_id,
        application_properties: { "status-code": 200, "status-description": "OK" },
        body: {
          begin_sequence_number: rhea.types.wrap_long(0),
          last_enqueued_sequence_number: rhea.types.wrap_long(Math.max(0, count - 1)),
          last_enqueued_offset: String(Math.max(0, count - 1)),
          last_enqueued_time_utc: new Date(),
          is_partition_empty: count === 0,
          partition,
          name: hub,
          type: "com.microsoft:partition"
        }
      })
      return
    }
    reply(context.connection, message.reply_to, {
      correlation_id,
      application_properties: { "status-code": 200, "status-description": "OK" },
      body: {
        name: hub,
        type: "com.microsoft:eventhub",
        created_at: new Date(0),
        partition_count: partitionCount,
        partition_ids: rhea.types.wrap_array(partitionIds, 0xa1, undefined)
      }
    })
  }

  container.on("message", (context: rhea.EventContext) => {
    const receiver = context.receiver!
    const address = String((receiver.target as { address?: unknown } | undefined)?.address ?? "")
    const handle = context.delivery!
    // rhea 3 merges consecutive dispositions settled in one tick into one range with the FIRST one's
    // outcome when the range starts with a single delivery (write_dispositions compares outcomes only
    // once the range holds two), so an accept next to a reject would be sent as two rejects (or two
    // accepts). Flush each disposition on its own.
    const flush = () => (context.connection as unknown as { _process?: () => void })._process?.()
    const delivery = {
      accept: () => {
        handle.accept()
        flush()
      },
      reject: (error: { condition: string; description: string }) => {
        handle.reject(error)
        flush()
      }
    }
    if (address === "$cbs") {
      cbs(context, context.message as Decoded)
      delivery.accept()
      return
    }
    if (address === "$management" || address.endsWith("/$management")) {
      management(context, context.message as Decoded)
      delivery.accept()
      return
    }
    attempts++
    const partitionFromAddress = /\/Partitions\/(\d+)$/.exec(address)?.[1]
    if (drops > 0 || dropAt.delete(attempts)) {
      if (drops > 0) drops--
      droppedCount++
      const socket = (context.connection as unknown as { socket?: { destroy: () => void } }).socket
      socket?.destroy()
      return
    }
    if (stalls > 0) {
      stalls--
      stalledCount++
      return
    }
    const attempt = attempts
    const link = partitionFromAddress ?? "(hub)"
    inFlight.set(link, (inFlight.get(link) ?? 0) + 1)
    inFlightTotal++
    peakPerPartition = Math.max(peakPerPartition, inFlight.get(link)!)
    peakTotal = Math.max(peakTotal, inFlightTotal)
    const settled = () => {
      inFlight.set(link, inFlight.get(link)! - 1)
      inFlightTotal--
    }
    const raw = (context as unknown as { format?: number }).format
    const message = context.message
    const settle = () => {
      settled()
      const rule = rules.find((r) => r.predicate(attempt, { partition: partitionFromAddress }))
      const rejection = rejections.shift() ?? (rule === undefined ? undefined : { condition: rule.condition }) ?? rejectEverything
      if (rejection !== undefined) {
        const { condition } = rejection
        delivery.reject({ condition, description: rejection.description ?? `${condition}: rejected by the test peer. Please wait 4 seconds and try again.` })
        return
      }
      store(raw, message, partitionFromAddress)
      delivery.accept()
    }
    if (settleDelayMs === 0) settle()
    else
      setTimeout(() => {
        // The client may have gone meanwhile: its transfer is then simply lost, as at a real hub.
        if (context.connection.is_open()) settle()
        else settled()
      }, settleDelayMs)
  })

  const store = (raw: number | undefined, message: unknown, partitionFromAddress: string | undefined): void => {
    let envelope: Decoded
    let bytes: number
    let inner: Array<Decoded>
    if (raw === BATCH_FORMAT) {
      const buffer = message as Buffer
      bytes = buffer.length
      envelope = rhea.message.decode(buffer) as unknown as Decoded
      const content = (envelope.body as { content?: unknown } | undefined)?.content
      const parts = Array.isArray(content) ? (content as Array<Buffer>) : Buffer.isBuffer(content) ? [content] : []
      inner = parts.map((part) => rhea.message.decode(part) as unknown as Decoded)
    } else {
      envelope = message as Decoded
      bytes = rhea.message.encode(message as rhea.Message).length
      inner = [envelope]
    }
    const envelopeKey = envelope.message_annotations?.["x-opt-partition-key"]
    const batchKey = typeof envelopeKey === "string" ? envelopeKey : undefined
    let partition = partitionFromAddress
    const received: Array<EventHubReceivedEvent> = inner.map((message) => {
      const key = message.message_annotations?.["x-opt-partition-key"] ?? batchKey
      const partitionKey = typeof key === "string" ? key : undefined
      partition ??= partitionKey !== undefined ? eventHubPartitionOf(partitionKey, partitionCount) : String((acceptedCount + transfers.length) % partitionCount)
      return {
        messageId: typeof message.message_id === "string" ? message.message_id : message.message_id === undefined ? undefined : String(message.message_id),
        contentType: typeof message.content_type === "string" ? message.content_type : undefined,
        properties: message.application_properties ?? {},
        partitionKey,
        partition,
        body: bodyBuffer(message.body)
      }
    })
    acceptedCount += received.length
    transferCount++
    if (retain) stored.push(...received)
    if (retain) transfers.push({ bytes, events: received.length, partition: partition ?? "0", partitionLink: partitionFromAddress, partitionKey: batchKey })
  }

  const server: Server = container.listen({
    host: "127.0.0.1",
    port: 0,
    receiver_options: { max_message_size: maxMessageSize, autoaccept: false }
  } as never) as unknown as Server
  await new Promise<void>((resolve, reject) => {
    if (server.listening) resolve()
    else {
      server.once("listening", () => resolve())
      server.once("error", reject)
    }
  })
  const port = (server.address() as AddressInfo).port

  const dropConnections = () => {
    for (const connection of connections) {
      ;(connection as unknown as { socket?: { destroy: () => void } }).socket?.destroy()
    }
    connections.clear()
  }

  return {
    port,
    hub,
    connectionString: (name = hub, key = "x") =>
      `Endpoint=sb://127.0.0.1:${port};SharedAccessKeyName=k;SharedAccessKey=${key};EntityPath=${name};UseDevelopmentEmulator=true`,
    events: () => [...stored],
    partition: (id) => stored.filter((e) => e.partition === id),
    transfers: () => [...transfers],
    accepted: () => acceptedCount,
    attempts: () => attempts,
    acceptedTransfers: () => transferCount,
    rejectNext: (times, condition, description) => {
      for (let i = 0; i < times; i++) rejections.push({ condition, description })
    },
    rejectWhen: (predicate, condition) => {
      rules.push({ predicate, condition })
    },
    rejectAll: (condition, description) => {
      rejectEverything = { condition, description }
    },
    clearRejections: () => {
      rules.length = 0
      rejections.length = 0
      rejectEverything = undefined
    },
    dropOnNext: (times) => {
      drops += times
    },
    dropOnAttempts: (...numbers) => {
      for (const n of numbers) dropAt.add(n)
    },
    dropped: () => droppedCount,
    dropConnections,
    stallNext: (times) => {
      stalls += times
    },
    stalled: () => stalledCount,
    maxInFlightPerPartition: () => peakPerPartition,
    maxInFlight: () => peakTotal,
    stop: async () => {
      dropConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
