// The benchmark both object-storage sinks run (sink-s3 against testkit's S3 double, sink-azure-blob against
// Azurite, each server in a process of its own): 100,000 production-shaped events (generate source, starting an
// hour ago) in batches of 10,000, 4 batches in flight (the sinks' maxInFlight), each round into a fresh bucket or
// container so that create-only never finds an object there. Three runs per round, their order rotating, median
// of 5 rounds after a warm-up:
//   sink          the sink itself, made in the round (its DuckDB started), Effect.forEach over the batches;
//   encode+upload the same objects made by the same encoder (object-storage's format, objectGroups) and uploaded
//                 by the bare client at the same concurrency: what any writer of these files must do;
//   upload        the bare client uploading bytes encoded before the timer: pure transfer.
// Exits 1 when sink / encode+upload is under 0.7. sink / upload is printed beside it: on localhost the transfer is
// nearly free and the encoding is the work, so that ratio measures the encoder, not the sink.
// Then the sizes: the same events as Parquet objects against gzipped NDJSON objects.
import { Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import { DEFAULT_PREFIX, fileRow, objectGroups, openFormat, readObjectBack } from "@featbit-export/object-storage"
import { generateRows } from "@featbit-export/source-generate"
import { median } from "@featbit-export/testkit/bench"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const BATCH = 10_000
const IN_FLIGHT = 4
const OBJECTS_AT_ONCE = 4 // object-storage's objectWriter
const ROUNDS = 5

/**
 * @param {{
 *   label: string,
 *   plugin: any,
 *   config: (target: string, format: string) => Record<string, unknown>,
 *   freshTarget: (tag: string) => Promise<string>,
 *   upload: (target: string, key: string, body: Buffer, contentType: string) => Promise<void>,
 *   objects: (target: string) => Promise<Array<[string, Buffer]>>,
 *   count?: number,
 *   formats?: ReadonlyArray<string>
 * }} options
 * @returns {Promise<boolean>} whether every format reached 0.7 of encode+upload
 */
export const benchObjectSink = async (options) => {
  const count = options.count ?? 100_000
  const start = Timestamp.fromMillis(Date.now() - 3_600_000)
  const events = [...generateRows({ count, seed: 1, start })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))
  const batches = []
  for (let i = 0; i < events.length; i += BATCH) batches.push({ events: events.slice(i, i + BATCH), sequence: i / BATCH })
  const bytesOf = {}
  let passed = true

  for (const name of options.formats ?? ["parquet", "ndjson"]) {
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const format = yield* openFormat(name)
          const objectsOf = (batch) => objectGroups(batch.events, { prefix: DEFAULT_PREFIX, extension: format.extension })
          const encode = (group) => Effect.promise(() => format.encode(group.events.map((event) => fileRow(event))))
          const encoded = []
          for (const batch of batches) for (const group of objectsOf(batch)) encoded.push({ key: group.key, body: yield* encode(group), batch: batch.sequence })
          bytesOf[name] = encoded.reduce((n, object) => n + object.body.length, 0)
          const targets = []
          const timed = (tag, body) =>
            Effect.gen(function* () {
              const target = yield* Effect.promise(() => options.freshTarget(`${tag}-${name}`))
              targets.push(target)
              const started = performance.now()
              yield* body(target)
              return performance.now() - started
            })
          const upload = (target, key, body) => Effect.promise(() => options.upload(target, key, body, format.contentType))
          const runs = {
            sink: timed("sink", (target) =>
              Effect.scoped(
                Effect.gen(function* () {
                  const config = Schema.decodeUnknownSync(options.plugin.config)(options.config(target, name))
                  const sink = yield* options.plugin.make(config, { pipeline: "bench", baseDir: process.cwd() })
                  yield* Effect.forEach(batches, (batch) => sink.write(batch), { concurrency: IN_FLIGHT, discard: true })
                })
              )
            ),
            "encode+upload": timed("encode", (target) =>
              Effect.forEach(
                batches,
                (batch) => Effect.forEach(objectsOf(batch), (group) => Effect.flatMap(encode(group), (body) => upload(target, group.key, body)), { concurrency: OBJECTS_AT_ONCE, discard: true }),
                { concurrency: IN_FLIGHT, discard: true }
              )
            ),
            upload: timed("upload", (target) =>
              Effect.forEach(
                batches,
                (batch) => Effect.forEach(encoded.filter((object) => object.batch === batch.sequence), (object) => upload(target, object.key, object.body), { concurrency: OBJECTS_AT_ONCE, discard: true }),
                { concurrency: IN_FLIGHT, discard: true }
              )
            )
          }
          const order = Object.keys(runs)
          const ms = Object.fromEntries(order.map((run) => [run, []]))
          for (const run of order) yield* runs[run]
          for (let round = 0; round < ROUNDS; round++) {
            for (let i = 0; i < order.length; i++) {
              const run = order[(i + round) % order.length]
              ms[run].push(yield* runs[run])
            }
          }

          // Every run stored every object: the same keys, and every object read back whole, holding its events.
          const keys = encoded.map((object) => object.key).sort().join("\n")
          for (const target of targets) {
            const stored = yield* Effect.promise(() => options.objects(target))
            if (stored.map(([key]) => key).sort().join("\n") !== keys) throw new Error(`${target} does not hold the ${encoded.length} objects expected`)
          }
          const last = yield* Effect.promise(() => options.objects(targets.at(-1)))
          const read = yield* Effect.promise(() => Promise.all(last.map(([key, body]) => readObjectBack(key, body))))
          if (read.some((object) => !object.whole) || read.reduce((n, object) => n + object.ids.length, 0) !== events.length) throw new Error(`${targets.at(-1)} holds a torn object`)

          const medians = Object.fromEntries(order.map((run) => [run, median(ms[run])]))
          const rate = (value) => Math.round(events.length / (value / 1000))
          const overEncode = medians["encode+upload"] / medians.sink
          const overUpload = medians.upload / medians.sink
          console.log(
            `${options.label} throughput (${name}): ${events.length} events, batches of ${BATCH}, ${IN_FLIGHT} in flight, ${encoded.length} objects, ${(bytesOf[name] / 1024 / 1024).toFixed(1)} MiB, median of ${ROUNDS}: ` +
              `sink ${rate(medians.sink)} ev/s, bare encode+upload ${rate(medians["encode+upload"])} ev/s, bare upload ${rate(medians.upload)} ev/s; ` +
              `sink/encode+upload ${overEncode.toFixed(2)} (target >= 0.7), sink/upload ${overUpload.toFixed(2)} ` +
              `[${order.map((run) => `${run} ms ${ms[run].map(Math.round).join("/")}`).join(", ")}]`
          )
          if (overEncode < 0.7) {
            console.error(`${options.label} (${name}): the sink is under 0.7 of the bare encode and upload`)
            passed = false
          }
        })
      )
    )
  }
  if (bytesOf.parquet !== undefined && bytesOf.ndjson !== undefined) {
    const kib = (bytes) => `${Math.round(bytes / 1024)} KiB`
    console.log(
      `${options.label} sizes: ${events.length} events: Parquet ${kib(bytesOf.parquet)} (${(bytesOf.parquet / events.length).toFixed(1)} B/event), gzipped NDJSON ${kib(bytesOf.ndjson)} (${(bytesOf.ndjson / events.length).toFixed(1)} B/event), Parquet/NDJSON.gz ${(bytesOf.parquet / bytesOf.ndjson).toFixed(2)}`
    )
  }
  return passed
}
