// One measurement in its own process, so that its peak RSS is its own. Prints one JSON line.
//   node child.mjs engine <count> <dir>   generate -> engine -> file sink (the real pipeline)
//   node child.mjs bare <count> <dir>     the same events generated, serialised and written by a bare loop
//   node child.mjs shaped <count> <dir>   the engine on production-shaped rows (50,000 users, stamped up to now,
//                                         one row in 997 malformed), without a transform
//   node child.mjs transform <count> <dir> the same with a typical filter and three computed fields (CEL)
//   node child.mjs enrich <count> <dir>   the same with every flag evaluation enriched (flag name, variation
//                                         name and value) from a catalogue of every generated flag
import * as fs from "node:fs"
import * as path from "node:path"
import { CheckpointStore, DeadLetter, Pipeline, RetryPolicy, decodeFeatBitRow } from "@featbit-export/core"
import { FileSink } from "@featbit-export/sink-file"
import { GenerateSource, flagPool, generateRows } from "@featbit-export/source-generate"
import { catalogueOf, makeEnricher } from "@featbit-export/enrich-flags"
import { celCompiler } from "@featbit-export/transform-cel"
import * as Either from "effect/Either"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

const [mode, countText, dir, batchText = "5000"] = process.argv.slice(2)
const count = Number(countText)
const batchSize = Number(batchText)
const seed = 7
fs.mkdirSync(dir, { recursive: true })
const file = path.join(dir, `${mode}.ndjson`)
fs.rmSync(file, { force: true })

const bare = () => {
  // Same generator, same decoding into canonical events, same serialisation, and the same durability:
  // one write and one fsync per batch of `batchSize` events.
  const fd = fs.openSync(file, "a")
  let lines = []
  for (const row of generateRows({ count, seed })) {
    const decoded = decodeFeatBitRow(row)
    if (decoded._tag === "Right") lines.push(JSON.stringify(decoded.right))
    if (lines.length === batchSize) {
      fs.writeSync(fd, lines.join("\n") + "\n")
      fs.fsyncSync(fd)
      lines = []
    }
  }
  if (lines.length > 0) {
    fs.writeSync(fd, lines.join("\n") + "\n")
    fs.fsyncSync(fd)
  }
  fs.closeSync(fd)
}

// What a user typically writes: leave out page views, add a plan from a tag, an experiment key and a
// lower-cased user key.
export const TYPICAL_TRANSFORM = {
  filter: 'event != "PageView"',
  set: {
    "properties.plan": 'tags.?plan.orValue("free")',
    experiment: 'event == "FlagValue" ? flagKey + ":" + variationId : eventName',
    userKey: "user.keyId.lowerAscii()"
  }
}

const shaped = mode === "shaped" || mode === "transform" || mode === "enrich"
const generateConfig = shaped
  ? { count, seed, users: 50_000, malformedEvery: 997, start: new Date(Date.now() - 4 * 3_600_000).toISOString().replace("Z", "000Z") }
  : { count, seed }
const transform = mode === "transform" ? Either.getOrThrow(celCompiler.compile(TYPICAL_TRANSFORM, { type: "file", fields: {} })) : undefined

// The catalogue is read once a minute, so the cost per event is the lookup and the three fields: measured with
// the catalogue in memory (every generated flag, in every environment).
const catalogue = catalogueOf(flagPool().map((flag) => ({ key: flag.key, name: `Flag ${flag.key}`, variationType: "string", variations: flag.variationIds.map((id, i) => ({ id, name: `Variation ${i}`, value: `value-${i}` })) })))
const enrich = mode === "enrich" ? makeEnricher({ read: () => Effect.succeed(catalogue) }, { refresh: "1 minute", required: true }) : undefined

const engine = () =>
  Effect.gen(function* () {
    const context = { pipeline: "bench", baseDir: dir }
    const source = yield* GenerateSource.make(Schema.decodeUnknownSync(GenerateSource.config)(generateConfig), context)
    const sink = yield* FileSink.make(Schema.decodeUnknownSync(FileSink.config)({ path: file }), context)
    return yield* Pipeline.run({
      name: "bench",
      source,
      sink,
      sourceType: "generate",
      sinkType: "file",
      batchSize,
      inFlight: 4,
      retry: Schema.decodeSync(RetryPolicy)({}),
      mode: "once",
      pollInterval: 1000,
      transform,
      enrich,
      deadLetterLimit: undefined
    })
  }).pipe(
    Effect.scoped,
    Effect.provide(Layer.merge(CheckpointStore.layerFile(path.join(dir, `state-${mode}`)), DeadLetter.layerFile(path.join(dir, `state-${mode}`)))),
    Effect.runPromise
  )

fs.rmSync(path.join(dir, `state-${mode}`), { recursive: true, force: true })
const started = process.hrtime.bigint()
let summary
if (mode === "bare") bare()
else summary = await engine()
const ms = Number(process.hrtime.bigint() - started) / 1e6
// Count lines without holding the file in memory (1M events are about 1 GB).
let lines = 0
const buffer = Buffer.alloc(1 << 20)
const fd = fs.openSync(file, "r")
for (let read; (read = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) for (let i = 0; i < read; i++) if (buffer[i] === 10) lines++
fs.closeSync(fd)
fs.rmSync(file, { force: true })
console.log(
  JSON.stringify({
    mode,
    count,
    lines,
    ms,
    eventsPerSecond: Math.round((lines * 1000) / ms),
    // Rows of the source handled per second, whatever became of them (exported, filtered, dead-lettered).
    rowsPerSecond: Math.round((count * 1000) / ms),
    filtered: summary?.filtered ?? 0,
    deadLettered: summary?.deadLettered ?? 0,
    enriched: enrich?.counts.enriched ?? 0,
    maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024)
  })
)
