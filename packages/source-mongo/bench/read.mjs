// Read throughput of the mongo source against the MongoDB wire-protocol test server, vs a bare driver cursor.
// Build first (npx tsc -b tsconfig.json at the repository root), then:
//   node packages/source-mongo/bench/read.mjs [documents]        (default 100000)
//
// The server runs in a child process (bench/server.mjs) holding `documents` FeatBit Events documents
// (generateRows, as FeatBit Standard stores them). For page sizes 1k and 5k, three rounds, alternating:
//   (a) the source: documents decoded into canonical events per second through `read` (one find per page,
//       keyset filter, sort {timestamp: 1, _id: 1}, limit = batchSize = page size);
//   (b) a bare driver cursor over the same documents: find({}) with the same sort and batch size, touching
//       each document's _id;
//   (c) the source's own queries (rangeFilter, one find per page) replayed by the bare driver, touching each
//       document's _id: what the source costs beyond its queries.
// It prints the medians and the ratios a/b and a/c. The server is a test double, not mongod: the absolute figures say
// little about a real MongoDB; the ratio says what the source adds to the driver.
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { MongoClient } from "mongodb"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { MongoSource, rangeFilter } from "../dist/index.js"

const count = Number(process.argv[2] ?? 100_000)
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const fmt = (n) => Math.round(n).toLocaleString("en")

const child = spawn(process.execPath, [fileURLToPath(new URL("./server.mjs", import.meta.url)), String(count)], { stdio: ["pipe", "pipe", "inherit"] })
const { url } = await new Promise((resolve, reject) => {
  child.once("exit", (code) => reject(new Error(`the wire server exited (${code})`)))
  createInterface({ input: child.stdout }).once("line", (line) => resolve(JSON.parse(line)))
})

const throughSource = (pageSize) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const config = Schema.decodeUnknownSync(MongoSource.config)({ url, lag: 0, batchSize: pageSize })
        const source = yield* MongoSource.make(config, { pipeline: "bench", baseDir: "." })
        let events = 0
        let rejected = 0
        const started = performance.now()
        yield* source.read(undefined, { pageSize }).pipe(
          Stream.runForEach((page) => Effect.sync(() => ((events += page.events.length), (rejected += page.rejected.length))))
        )
        return { events, rejected, ms: performance.now() - started }
      })
    )
  )

const bare = async (pageSize) => {
  const client = new MongoClient(url)
  try {
    await client.db("featbit").command({ ping: 1 })
    const started = performance.now()
    let n = 0
    let touched = 0
    for await (const doc of client.db("featbit").collection("Events").find({}, { sort: { timestamp: 1, _id: 1 }, batchSize: pageSize })) {
      n++
      touched += doc._id.length
    }
    return { events: n, touched, ms: performance.now() - started }
  } finally {
    await client.close()
  }
}

const replay = async (pageSize) => {
  const client = new MongoClient(url)
  try {
    const collection = client.db("featbit").collection("Events")
    await client.db("featbit").command({ ping: 1 })
    const settings = { envIds: undefined, events: undefined }
    const started = performance.now()
    // The source's first query of a pass: the server's clock, which bounds the range.
    const { localTime } = await client.db("admin").command({ hello: 1 })
    const before = new Date(localTime.getTime() + 1).toISOString().slice(0, 23) + "000Z"
    let after
    let n = 0
    let touched = 0
    for (;;) {
      const docs = await collection.find(rangeFilter(settings, { after, before }), { sort: { timestamp: 1, _id: 1 }, limit: pageSize, batchSize: pageSize }).toArray()
      for (const doc of docs) touched += doc._id.length
      n += docs.length
      const last = docs[docs.length - 1]
      if (last === undefined || docs.length < pageSize) break
      after = { timestamp: last.timestamp.toISOString().slice(0, 23) + "000Z", id: last._id }
    }
    return { events: n, touched, ms: performance.now() - started }
  } finally {
    await client.close()
  }
}

console.log(`mongo source read benchmark: ${fmt(count)} documents, wire test server in a child process, Node ${process.version}`)
try {
  for (const pageSize of [1_000, 5_000]) {
    const source = []
    const driver = []
    const queries = []
    for (let round = 0; round < 3; round++) {
      const a = await throughSource(pageSize)
      const b = await bare(pageSize)
      const c = await replay(pageSize)
      if (a.events + a.rejected !== count || b.events !== count || c.events !== count) throw new Error(`read ${a.events}+${a.rejected}, ${b.events} and ${c.events} of ${count} documents`)
      source.push((a.events / a.ms) * 1000)
      driver.push((b.events / b.ms) * 1000)
      queries.push((c.events / c.ms) * 1000)
    }
    const s = median(source)
    const d = median(driver)
    const q = median(queries)
    console.log(
      `page ${fmt(pageSize)}: source ${fmt(s)} events/s, bare driver cursor ${fmt(d)} docs/s (ratio ${(s / d).toFixed(2)}), ` +
        `the source's queries replayed ${fmt(q)} docs/s (ratio ${(s / q).toFixed(2)})`
    )
  }
} finally {
  child.stdin.end()
}
