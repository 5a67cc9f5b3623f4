// One measurement of bench/pairs.mjs in its own process, so that its peak RSS is its own. Prints one JSON line
// {events, ms, rssMiB}.
//   node pair-child.mjs pipeline <pipeline file> <name>   the pipeline, as `featbit-export run --once` runs it
//   node pair-child.mjs read <source> <json options>       a bare keyset-paged read of the same rows
//   node pair-child.mjs send <sink> <json options>         the same events sent by a bare loop
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { CheckpointStore, DeadLetter, Pipeline, PipelineFile, decodeFeatBitRow } from "@featbit-export/core"
import { partitionIndexOf } from "@featbit-export/sink-eventhub"
import { createEmbeddedClient } from "@featbit-export/source-clickhouse"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { openSink, openSource } from "../dist/Pipelines.js"
import { builtins } from "../dist/Plugins.js"

const [mode, what, arg] = process.argv.slice(2)
const PAGE = 5_000
const requireFrom = (pkg) => createRequire(createRequire(import.meta.url).resolve(`${pkg}/package.json`))

const report = (events, ms, extra = {}) => {
  process.stdout.write(`${JSON.stringify({ events, ms, rssMiB: Math.round(process.resourceUsage().maxRSS / 1024), ...extra })}\n`)
}

/** The events of the rows the stores hold, decoded as the sources decode them (not timed). */
const eventsOf = (options) =>
  [...generateRows({ count: options.rows, seed: options.seed })].flatMap((row) => {
    const decoded = decodeFeatBitRow(row)
    return decoded._tag === "Right" ? [decoded.right] : []
  })

const pipeline = async (file, name) => {
  const loaded = await Effect.runPromise(PipelineFile.load(file, builtins))
  const config = loaded.pipelines.find((p) => p.name === name)
  let started = 0
  const summary = await Effect.runPromise(
    Effect.gen(function* () {
      const source = yield* openSource(loaded, config, builtins)
      const sink = yield* openSink(loaded, config, builtins)
      // From here on, as the bare loops: their clients are open before their clocks start too.
      started = performance.now()
      return yield* Pipeline.run({
        name,
        source,
        sink,
        sourceType: config.source.type,
        sinkType: config.sink.type,
        batchSize: config.batch.size,
        inFlight: config.batch.inFlight,
        retry: config.retry,
        deadLetterLimit: config.deadLetters,
        mode: "once",
        pollInterval: config.pollInterval
      })
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(CheckpointStore.layerFile(loaded.stateDir), DeadLetter.layerFile(loaded.stateDir))))
  )
  report(summary.exported + summary.deadLettered, performance.now() - started)
}

// --- bare reads: keyset pages of PAGE rows, the properties parsed, nothing else -----------------------------

const readClickHouse = async ({ folder }) => {
  const client = await createEmbeddedClient(folder)
  const started = performance.now()
  let n = 0
  let after
  for (;;) {
    const where = after === undefined ? "" : "WHERE (timestamp > {ts:DateTime64(6, 'UTC')} OR (timestamp = {ts:DateTime64(6, 'UTC')} AND toString(uuid) > {id:String}))"
    const result = await client.query({
      query: `SELECT toString(uuid) AS id, distinct_id, env_id, event, properties, toString(timestamp) AS ts FROM featbit.events ${where} ORDER BY timestamp, toString(uuid) LIMIT ${PAGE}`,
      format: "JSONEachRow",
      ...(after === undefined ? {} : { query_params: after })
    })
    const rows = await result.json()
    for (const row of rows) JSON.parse(row.properties)
    n += rows.length
    if (rows.length < PAGE) break
    const last = rows[rows.length - 1]
    after = { ts: last.ts, id: last.id }
  }
  const ms = performance.now() - started
  await client.close()
  report(n, ms)
}

const readPostgres = async ({ database }) => {
  const pg = requireFrom("@featbit-export/source-postgres")("pg")
  const client = new pg.Client({ host: "localhost", user: "postgres", database })
  await client.connect()
  const started = performance.now()
  let n = 0
  let after
  for (;;) {
    const { rows } = await client.query(
      after === undefined
        ? `SELECT id, distinct_id, env_id, event, properties, "timestamp" FROM events ORDER BY "timestamp", id LIMIT ${PAGE}`
        : `SELECT id, distinct_id, env_id, event, properties, "timestamp" FROM events WHERE ("timestamp", id) > ($1, $2) ORDER BY "timestamp", id LIMIT ${PAGE}`,
      after === undefined ? [] : [after.timestamp, after.id]
    )
    n += rows.length
    if (rows.length < PAGE) break
    after = rows[rows.length - 1]
  }
  const ms = performance.now() - started
  await client.end()
  report(n, ms)
}

const readMongo = async ({ url }) => {
  const { MongoClient } = requireFrom("@featbit-export/source-mongo")("mongodb")
  const client = new MongoClient(url)
  const collection = client.db("featbit").collection("Events")
  await client.db("featbit").command({ ping: 1 })
  const started = performance.now()
  let n = 0
  let after
  for (;;) {
    const filter = after === undefined ? {} : { $or: [{ timestamp: { $gt: after.timestamp } }, { timestamp: after.timestamp, _id: { $gt: after._id } }] }
    const docs = await collection.find(filter, { sort: { timestamp: 1, _id: 1 }, limit: PAGE, batchSize: PAGE }).toArray()
    n += docs.length
    if (docs.length < PAGE) break
    after = docs[docs.length - 1]
  }
  const ms = performance.now() - started
  await client.close()
  report(n, ms)
}

// --- bare sends: the same events, in batches of PAGE, with the destination's own limits ------------------------

const sendFile = async (options) => {
  const events = eventsOf(options)
  const file = path.join(options.dir, "bare.ndjson")
  fs.rmSync(file, { force: true })
  const fd = fs.openSync(file, "a")
  const started = performance.now()
  for (let i = 0; i < events.length; i += PAGE) {
    fs.writeSync(fd, events.slice(i, i + PAGE).map((event) => JSON.stringify(event)).join("\n") + "\n")
    fs.fsyncSync(fd)
  }
  const ms = performance.now() - started
  fs.closeSync(fd)
  report(events.length, ms)
}

/** Segment's track call for an event, with what every sink puts in it. */
const track = (event) => ({
  type: "track",
  messageId: event.id,
  userId: event.user.keyId,
  timestamp: event.timestamp,
  event: event.event === "FlagValue" ? "Feature Flag Evaluated" : event.eventName,
  properties: event.event === "FlagValue" ? { flagKey: event.flagKey, variationId: event.variationId, envId: event.envId } : { value: event.numericValue, envId: event.envId }
})

const sendSegment = async (options) => {
  const events = eventsOf(options)
  const auth = `Basic ${Buffer.from(`${options.writeKey}:`).toString("base64")}`
  // As the sink does by default: an identify with the user's name the first time a user is seen.
  const identified = new Set()
  const started = performance.now()
  for (let i = 0; i < events.length; i += PAGE) {
    // Requests of at most 2,500 events and 480 KB (Segment's limits: 2,500 and 500 KB), 4 at once.
    const requests = []
    let current = []
    let bytes = 0
    const messages = []
    for (const event of events.slice(i, i + PAGE)) {
      if (!identified.has(event.user.keyId)) {
        identified.add(event.user.keyId)
        messages.push(JSON.stringify({ type: "identify", messageId: `identify-${event.user.keyId}`, userId: event.user.keyId, traits: { name: event.user.name } }))
      }
      messages.push(JSON.stringify(track(event)))
    }
    for (const json of messages) {
      if (current.length === 2_500 || bytes + json.length + 1 > 480 * 1024) {
        requests.push(current)
        current = []
        bytes = 0
      }
      current.push(json)
      bytes += json.length + 1
    }
    if (current.length > 0) requests.push(current)
    for (let r = 0; r < requests.length; r += 4) {
      await Promise.all(
        requests.slice(r, r + 4).map(async (batch) => {
          const body = `{"batch":[${batch.join(",")}]}`
          // A kept-alive socket the server has just closed fails a request now and then: try again, as any client does.
          for (let attempt = 1; ; attempt++) {
            try {
              const response = await fetch(`${options.url}/v1/batch`, { method: "POST", headers: { "content-type": "application/json", authorization: auth }, body })
              if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`)
              await response.arrayBuffer()
              return
            } catch (error) {
              if (attempt === 3 || String(error).startsWith("Error: HTTP")) throw error
            }
          }
        })
      )
    }
  }
  report(events.length, performance.now() - started)
}

const sendEventHub = async (options) => {
  const { EventHubProducerClient } = requireFrom("@featbit-export/sink-eventhub")("@azure/event-hubs")
  const events = eventsOf(options)
  const producer = new EventHubProducerClient(options.connectionString, { retryOptions: { maxRetries: 1, retryDelayInMs: 50, timeoutInMs: 10_000 } })
  const partitions = await producer.getPartitionIds()
  const started = performance.now()
  let sends = 0
  for (let i = 0; i < events.length; i += PAGE) {
    // Each page's events in their user's partition (the service's hash, as the sink maps them), packed into
    // batches of the link's size.
    const perPartition = partitions.map(() => [])
    for (const event of events.slice(i, i + PAGE)) perPartition[partitionIndexOf(event.user.keyId, partitions.length)].push(event)
    await Promise.all(
      perPartition.map(async (list, p) => {
        let batch = await producer.createBatch({ partitionId: partitions[p] })
        for (const event of list) {
          const data = { body: event, messageId: event.id, contentType: "application/json" }
          if (!batch.tryAdd(data)) {
            await producer.sendBatch(batch)
            sends++
            batch = await producer.createBatch({ partitionId: partitions[p] })
            batch.tryAdd(data)
          }
        }
        if (batch.count > 0) {
          await producer.sendBatch(batch)
          sends++
        }
      })
    )
  }
  const ms = performance.now() - started
  await producer.close()
  report(events.length, ms, { sends })
}

const options = arg === undefined || mode === "pipeline" ? {} : JSON.parse(arg)
const run = {
  pipeline: () => pipeline(what, arg),
  read: () => ({ clickhouse: readClickHouse, postgres: readPostgres, mongo: readMongo })[what](options),
  send: () => ({ file: sendFile, segment: sendSegment, eventhub: sendEventHub })[what](options)
}[mode]
await run()
process.exit(0)
