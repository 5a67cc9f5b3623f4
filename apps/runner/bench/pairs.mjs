// `pnpm bench`: every built-in source -> sink pair end to end, each against the slower of a bare read of the
// same rows and a bare send of the same events, measured in the same run, alternating, median of 3. The data
// is production-shaped: 200,000 FeatBit events from the generator's defaults (20,000 users, 60 flags), in
// an embedded ClickHouse (chDB), the local PostgreSQL and the MongoDB wire-protocol double (its own process);
// the destinations are a file, the test kit's Segment receiver and its Event Hubs peer (their own processes).
// Each measurement runs in a process of its own, so its peak RSS is its own. Build first (pnpm run build).
//   node apps/runner/bench/pairs.mjs            (BENCH_PAIR_ROWS=200000, BENCH_ROUNDS=3, BENCH_PAIRS=ch-file,...)
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { generateRows } from "@featbit-export/source-generate"

const here = path.dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)
const requireFrom = (pkg) => createRequire(require.resolve(`${pkg}/package.json`))
const testkitDist = path.dirname(require.resolve("@featbit-export/testkit"))
const ROWS = Number(process.env.BENCH_PAIR_ROWS ?? 200_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
// The MongoDB double's bench server generates its documents with this seed; every store holds the same rows.
const SEED = 7
const WRITE_KEY = "bench-key"
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const fmt = (n) => Math.round(n).toLocaleString("en-US")
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-pairs-"))
const children = []

const child = (args, input) => JSON.parse(execFileSync(process.execPath, [path.join(here, "pair-child.mjs"), ...args], { encoding: "utf8", maxBuffer: 1 << 24, input }).trim().split("\n").pop())
const serve = (args) => {
  const proc = spawn(process.execPath, args, { stdio: ["pipe", "pipe", "inherit"] })
  children.push(proc)
  const lines = readline.createInterface({ input: proc.stdout })
  return { proc, next: () => new Promise((resolve) => lines.once("line", (line) => resolve(JSON.parse(line)))) }
}

try {
  // --- the data ---------------------------------------------------------------------------------------------
  const users = new Set()
  for (const row of generateRows({ count: ROWS, seed: SEED })) {
    const properties = JSON.parse(row.properties)
    users.add(properties.userKeyId ?? properties.user?.keyId)
  }
  console.log(`pairs: ${fmt(ROWS)} FeatBit events from ${fmt(users.size)} distinct users, pages of 5,000, ${ROUNDS} alternating rounds, Node ${process.version}`)

  const folder = path.join(dir, "ch")
  execFileSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { createEmbeddedClient, createFeatBitEventsTable, insertFeatBitRows } from "@featbit-export/source-clickhouse"
       import { generateRows } from "@featbit-export/source-generate"
       const client = await createEmbeddedClient(${JSON.stringify(folder)})
       await createFeatBitEventsTable(client)
       await insertFeatBitRows(client, generateRows({ count: ${ROWS}, seed: ${SEED} }))
       await client.close()`
    ],
    { cwd: path.join(here, ".."), stdio: "inherit" }
  )

  const pg = requireFrom("@featbit-export/source-postgres")("pg")
  const database = `fbx_pairs_${process.pid}`
  const admin = new pg.Client({ host: "localhost", user: "postgres", database: "postgres" })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${database}`)
  const db = new pg.Client({ host: "localhost", user: "postgres", database })
  await db.connect()
  await db.query("CREATE TABLE events (id UUID PRIMARY KEY, distinct_id VARCHAR NOT NULL, env_id VARCHAR, event VARCHAR, properties JSONB, timestamp TIMESTAMP NOT NULL)")
  await db.query(`CREATE INDEX ON events ("timestamp", id)`)
  let chunk = []
  const flush = async () => {
    await db.query("INSERT INTO events SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::varchar[], $5::jsonb[], $6::timestamp[])", [
      chunk.map((r) => r.id),
      chunk.map((r) => r.distinctId),
      chunk.map((r) => r.envId),
      chunk.map((r) => r.event),
      chunk.map((r) => r.properties),
      chunk.map((r) => r.timestamp.slice(0, 10) + " " + r.timestamp.slice(11, 26))
    ])
    chunk = []
  }
  for (const row of generateRows({ count: ROWS, seed: SEED })) {
    chunk.push(row)
    if (chunk.length === 10_000) await flush()
  }
  if (chunk.length > 0) await flush()
  await db.query("VACUUM ANALYZE events")
  await db.end()

  const mongo = serve([path.join(here, "../../../packages/source-mongo/bench/server.mjs"), String(ROWS)])
  const { url: mongoUrl } = await mongo.next()
  const segment = serve([path.join(testkitDist, "segmentReceiverCli.js"), "--write-key", WRITE_KEY])
  const { url: segmentUrl } = await segment.next()
  // The receiver closes idle kept-alive sockets; a stats request on one that just closed is simply sent again.
  const segmentRequests = async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await (await fetch(`${segmentUrl}/stats`)).json()).requests
      } catch (error) {
        if (attempt === 3) throw error
      }
    }
  }
  const hub = serve([path.join(testkitDist, "eventhub", "eventHubPeerCli.js"), "--partitions", "4"])
  const { connectionString } = await hub.next()
  const hubSends = async () => {
    const answer = hub.next()
    hub.proc.stdin.write("stats\n")
    return (await answer).attempts
  }

  // --- the pairs ----------------------------------------------------------------------------------------------
  const sources = {
    clickhouse: { config: `{ type: clickhouse, url: "chdb:${folder}" }`, read: ["read", "clickhouse", JSON.stringify({ folder })] },
    postgres: { config: `{ type: postgres, host: localhost, user: postgres, database: ${database} }`, read: ["read", "postgres", JSON.stringify({ database })] },
    mongo: { config: `{ type: mongo, url: "${mongoUrl}" }`, read: ["read", "mongo", JSON.stringify({ url: mongoUrl })] }
  }
  const data = { rows: ROWS, seed: SEED }
  const sinks = {
    file: { config: (round) => `{ type: file, path: "${path.join(dir, `out-${round}.ndjson`)}" }`, send: ["send", "file", JSON.stringify({ ...data, dir })], count: undefined },
    segment: { config: () => `{ type: segment, writeKey: ${WRITE_KEY}, endpoint: "${segmentUrl}" }`, send: ["send", "segment", JSON.stringify({ ...data, url: segmentUrl, writeKey: WRITE_KEY })], count: segmentRequests },
    eventhub: { config: () => `{ type: eventhub, connectionString: "${connectionString}" }`, send: ["send", "eventhub", JSON.stringify({ ...data, connectionString })], count: hubSends }
  }
  const pairs = [
    ["clickhouse", "file"],
    ["clickhouse", "segment"],
    ["clickhouse", "eventhub"],
    ["postgres", "segment"],
    ["mongo", "segment"]
  ].filter(([source, sink]) => process.env.BENCH_PAIRS === undefined || process.env.BENCH_PAIRS.split(",").includes(`${source}-${sink}`))

  const rate = (m) => (m.events * 1000) / m.ms
  const results = []
  for (const [sourceName, sinkName] of pairs) {
    const source = sources[sourceName]
    const sink = sinks[sinkName]
    const reads = []
    const sends = []
    const runs = []
    let requests = 0
    for (let round = 0; round < ROUNDS; round++) {
      reads.push(child(source.read))
      sends.push(child(sink.send))
      const file = path.join(dir, `pairs-${sourceName}-${sinkName}-${round}.yaml`)
      fs.writeFileSync(file, `state: state-${sourceName}-${sinkName}-${round}\npipelines:\n  - name: pair\n    source: ${source.config}\n    sink: ${sink.config(round)}\n`)
      const before = sink.count === undefined ? 0 : await sink.count()
      const measured = child(["pipeline", file, "pair"])
      if (measured.events !== ROWS) throw new Error(`${sourceName} -> ${sinkName} delivered ${measured.events} events, not ${ROWS}`)
      if (sink.count !== undefined) requests = (await sink.count()) - before
      runs.push(measured)
    }
    const pipelineRate = median(runs.map(rate))
    const readRate = median(reads.map(rate))
    const sendRate = median(sends.map(rate))
    const ratio = pipelineRate / Math.min(readRate, sendRate)
    // Reading and sending one after the other on one thread cannot beat 1 / (1/read + 1/send): the part of
    // the ratio above that is what the pipeline overlaps (the store's or the destination's own waiting).
    const oneThread = (readRate * sendRate) / (readRate + sendRate) / Math.min(readRate, sendRate)
    const result = {
      pair: `${sourceName} -> ${sinkName}`,
      eventsPerSecond: Math.round(pipelineRate),
      bareReadPerSecond: Math.round(readRate),
      bareSendPerSecond: Math.round(sendRate),
      ratio: Number(ratio.toFixed(2)),
      oneThreadBound: Number(oneThread.toFixed(2)),
      requests: sink.count === undefined ? null : requests,
      peakRssMiB: median(runs.map((m) => m.rssMiB))
    }
    results.push(result)
    console.log(
      `  ${result.pair.padEnd(24)} ${fmt(pipelineRate).padStart(7)} ev/s; bare read ${fmt(readRate)}, bare send ${fmt(sendRate)}: ratio ${ratio.toFixed(2)} (aim >= 0.6; read then send on one thread: ${oneThread.toFixed(2)})` +
        `${result.requests === null ? "" : `; ${fmt(result.requests)} requests`}; peak RSS ${result.peakRssMiB} MiB`
    )
  }
  console.log(JSON.stringify({ date: new Date().toISOString(), rows: ROWS, distinctUsers: users.size, results }))
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  await admin.end()
} finally {
  for (const proc of children) proc.kill("SIGTERM")
  fs.rmSync(dir, { recursive: true, force: true })
}
