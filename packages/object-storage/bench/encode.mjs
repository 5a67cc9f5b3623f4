// Encoding cost of the two file formats alone (no upload), per 100,000 production-shaped events (generate
// source, starting an hour ago), in objects of about 5,000 events as the sinks make them from 10,000-event
// batches: median of 5 rounds of each format, after a warm-up. A diagnostic for the object sinks' benchmarks,
// where encoding is most of the time; not a pass/fail bench.
//   node packages/object-storage/bench/encode.mjs [events=100000]
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"

const here = path.dirname(fileURLToPath(import.meta.url))
const { fileRow, objectGroups, openFormat } = await import(pathToFileURL(path.join(here, "..", "dist", "index.js")).href)

const count = Number(process.argv[2] ?? 100_000)
const events = [...generateRows({ count, seed: 1, start: Timestamp.fromMillis(Date.now() - 3_600_000) })].flatMap((row) =>
  Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] })
)
const groups = []
for (let i = 0; i < events.length; i += 10_000) groups.push(...objectGroups(events.slice(i, i + 10_000), { prefix: "p", extension: "x" }))
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      for (const name of ["parquet", "ndjson"]) {
        const format = yield* openFormat(name)
        const round = () =>
          Effect.promise(async () => {
            const started = performance.now()
            let bytes = 0
            for (const group of groups) bytes += (await format.encode(group.events.map((event) => fileRow(event)))).length
            return { ms: performance.now() - started, bytes }
          })
        yield* round()
        const runs = []
        for (let i = 0; i < 5; i++) runs.push(yield* round())
        const ms = median(runs.map((run) => run.ms))
        console.log(
          `object-storage encode (${name}): ${events.length} events in ${groups.length} objects, median of 5: ${Math.round(ms)} ms (${Math.round(events.length / (ms / 1000))} ev/s), ${(runs[0].bytes / 1024).toFixed(0)} KiB [ms ${runs.map((run) => Math.round(run.ms)).join("/")}]`
        )
      }
    })
  )
)
