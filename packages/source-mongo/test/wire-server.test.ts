/**
 * The test kit's MongoDB wire server, driven by the official driver: aggregate (the source's per-bucket
 * count, getMore, numeric types), the server clock, stop/start on a fixed port, and the command log.
 * (The testkit package cannot import `mongodb`, so these live with the source that uses the driver.)
 */
import { type MongoWireServer, connectionRefused, freePort, startMongoWireServer } from "@featbit-export/testkit"
import { type Document, Double, Int32, MongoClient } from "mongodb"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { ENV_A, ENV_B, T0, flagDoc, metricDoc, uuid } from "./support/docs.js"

const ENV_C = "env-cccc"
const BUCKET_MS = 10_000
const HOUR = 3_600_000

const server = await startMongoWireServer()
const client = new MongoClient(server.url)
afterAll(async () => {
  await client.close()
  await server.close()
})

/** Clients and servers a test opens, closed after it. */
const opened: Array<{ close: () => Promise<unknown> }> = []
afterEach(async () => {
  for (const resource of opened.splice(0).reverse()) await resource.close()
})
const clientOf = (url: string): MongoClient => {
  const c = new MongoClient(url)
  opened.push(c)
  return c
}
const serverWith = async (options: Parameters<typeof startMongoWireServer>[0]): Promise<MongoWireServer> => {
  const s = await startMongoWireServer(options)
  opened.push(s)
  return s
}

let collections = 0
const fill = (docs: ReadonlyArray<Document>, target = server): string => {
  const name = `Wire_${++collections}`
  target.insert("featbit", name, docs)
  return name
}
const events = (name: string, c = client) => c.db("featbit").collection(name)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const tagOf = (value: unknown): string | undefined => (value as { _bsontype?: string } | null)?._bsontype

/** A deterministic spread of timestamps: 3,000 documents over 3 environments, plus documents on every edge. */
const spread = (): Array<Document> => {
  const docs: Array<Document> = []
  const envs = [ENV_A, ENV_B, ENV_C]
  let seed = 17
  for (let i = 0; i < 3_000; i++) {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    docs.push(flagDoc(i, new Date(T0.getTime() + (seed % 400_000) - 50_000), envs[seed % 3]!))
  }
  // Bucket edges (k * 10 s and one millisecond before), before and at the epoch (floor, not truncation), and
  // the range's edges: AT (several ids, on both sides of the keyset id), HI, and one millisecond outside each.
  const edges = [0, -1, -5_000, -9_999, 9_999, 10_000, T0.getTime(), T0.getTime() - 1, T0.getTime() + BUCKET_MS, T0.getTime() + BUCKET_MS - 1, HI.getTime(), HI.getTime() + 1, AT.getTime() - 1]
  edges.forEach((ms, k) => {
    docs.push(flagDoc(10_000 + 2 * k, new Date(ms), ENV_A))
    docs.push(flagDoc(10_001 + 2 * k, new Date(ms), ENV_C))
  })
  for (let k = 0; k < 6; k++) docs.push(flagDoc(20_000 + k, AT, k % 2 === 0 ? ENV_A : ENV_B))
  return docs
}
const AT = new Date(-10_000)
const AT_ID = uuid(20_002)
const HI = new Date(T0.getTime() + 200_000)
const WANTED = [ENV_A, ENV_B]

/** The source's match: environments, the pass's range, and the keyset condition after (AT, AT_ID). */
const sourceMatch = {
  env_id: { $in: WANTED },
  timestamp: { $gte: AT, $lte: HI },
  $or: [{ timestamp: { $gt: AT } }, { timestamp: AT, _id: { $gt: AT_ID } }]
}

/** The same selection and buckets, computed from the documents without the server. */
const expectedBuckets = (docs: ReadonlyArray<Document>): Array<{ _id: number; n: number }> => {
  const counts = new Map<number, number>()
  for (const doc of docs) {
    const t = (doc["timestamp"] as Date).getTime()
    const id = doc["_id"] as string
    const selected = WANTED.includes(doc["env_id"] as string) && t >= AT.getTime() && t <= HI.getTime() && (t > AT.getTime() || id > AT_ID)
    if (!selected) continue
    const bucket = Math.floor(t / BUCKET_MS)
    counts.set(bucket, (counts.get(bucket) ?? 0) + 1)
  }
  return [...counts.entries()].sort(([a], [b]) => a - b).map(([bucket, n]) => ({ _id: bucket, n }))
}

const subtractBucket = { $floor: { $divide: [{ $subtract: ["$timestamp", new Date(0)] }, BUCKET_MS] } }
const toLongBucket = { $floor: { $divide: [{ $toLong: "$timestamp" }, BUCKET_MS] } }
const bucketPipeline = (bucket: Document) => [{ $match: sourceMatch }, { $group: { _id: bucket, n: { $sum: 1 } } }, { $sort: { _id: 1 } }]

describe("aggregate: the source's per-bucket count", () => {
  const docs = spread()
  const name = fill(docs)
  const expected = expectedBuckets(docs)

  it("counts each 10-second bucket as a count by hand of the same documents does (edges, pre-epoch, keyset)", async () => {
    // The hand count must be a real test: buckets on both sides of the epoch, a range that leaves documents out.
    const total = expected.reduce((sum, bucket) => sum + bucket.n, 0)
    expect(total).toBeGreaterThan(1_000)
    expect(total).toBeLessThan(docs.length)
    expect(expected.find((bucket) => bucket._id === -1)?.n).toBe(6) // -1, -5000, -9999 (ENV_A) and the three AT ids after AT_ID
    expect(expected.some((bucket) => bucket._id === 0)).toBe(true)

    const result = await events(name).aggregate(bucketPipeline(subtractBucket)).toArray()
    expect(result).toEqual(expected)
  })

  it("gives the same buckets with $toLong as with Date minus Date", async () => {
    const viaToLong = await events(name).aggregate(bucketPipeline(toLongBucket)).toArray()
    expect(viaToLong).toEqual(expected)
    const descending = await events(name).aggregate([{ $match: sourceMatch }, { $group: { _id: toLongBucket, n: { $sum: 1 } } }, { $sort: { _id: -1 } }]).toArray()
    expect(descending).toEqual([...expected].reverse())
  })

  it("returns MongoDB's BSON types: the bucket a double, the count an int, Date minus Date and $toLong a long of milliseconds", async () => {
    const raw = await events(name).aggregate(bucketPipeline(subtractBucket), { promoteValues: false }).toArray()
    expect(raw.length).toBe(expected.length)
    for (const bucket of raw) {
      expect(tagOf(bucket["_id"])).toBe("Double")
      expect(tagOf(bucket["n"])).toBe("Int32")
    }
    const millis = await events(name)
      .aggregate([{ $match: { _id: uuid(10_000 + 2) } }, { $project: { _id: 0, diff: { $subtract: ["$timestamp", new Date(0)] }, long: { $toLong: "$timestamp" } } }], { promoteValues: false })
      .toArray()
    // uuid(10_002) is the edge document at -1 ms.
    expect(millis.map((doc) => [tagOf(doc["diff"]), String(doc["diff"]), tagOf(doc["long"]), String(doc["long"])])).toEqual([["Long", "-1", "Long", "-1"]])
    // With the driver's defaults they are plain numbers.
    const promoted = await events(name).aggregate([{ $match: { _id: uuid(10_000 + 2) } }, { $project: { _id: 0, diff: { $subtract: ["$timestamp", new Date(0)] } } }]).toArray()
    expect(promoted).toEqual([{ diff: -1 }])
  })

  it("counts what the driver's countDocuments asks ($match, $group {_id: 1, n: {$sum: 1}})", async () => {
    const byHand = docs.filter((doc) => doc["env_id"] === ENV_B && (doc["timestamp"] as Date).getTime() >= T0.getTime()).length
    expect(byHand).toBeGreaterThan(0)
    expect(await events(name).countDocuments({ env_id: ENV_B, timestamp: { $gte: T0 } })).toBe(byHand)
  })

  it("records the aggregate in the command log as the driver sent it", async () => {
    const before = server.commands.length
    await events(name).aggregate(bucketPipeline(toLongBucket), { batchSize: 7, hint: { _id: 1 }, comment: "buckets" }).toArray()
    const sent = server.commands.slice(before).filter((command) => command.name === "aggregate")
    expect(sent.length).toBe(1)
    expect(sent[0]!.body["aggregate"]).toBe(name)
    expect(sent[0]!.body["pipeline"]).toEqual(bucketPipeline(toLongBucket))
    expect(sent[0]!.body["cursor"]).toEqual({ batchSize: 7 })
    expect(sent[0]!.body["comment"]).toBe("buckets")
    // batchSize 7 over more buckets than that: the rest came by getMore.
    expect(expected.length).toBeGreaterThan(7)
    expect(server.commands.slice(before).filter((command) => command.name === "getMore").length).toBe(Math.ceil(expected.length / 7) - 1)
  })
})

describe("aggregate: stages and accumulators", () => {
  const docs = [
    metricDoc(1, new Date(T0.getTime() + 5), new Int32(3), ENV_A),
    metricDoc(2, new Date(T0.getTime() + 1), new Int32(4), ENV_A),
    metricDoc(3, new Date(T0.getTime() + 9), new Int32(5), ENV_A),
    metricDoc(4, new Date(T0.getTime() + 2), new Double(2.5), ENV_B),
    metricDoc(5, new Date(T0.getTime() + 7), new Int32(1), ENV_B),
    metricDoc(6, new Date(T0.getTime() + 3), "not a number", ENV_C),
    flagDoc(7, new Date(T0.getTime() + 4), ENV_C)
  ]
  const name = fill(docs)

  it("groups on a field with $sum of a field (int stays int, a double makes a double, non-numbers are skipped), $min and $max", async () => {
    const result = await events(name)
      .aggregate(
        [
          { $group: { _id: "$env_id", total: { $sum: "$properties.numericValue" }, first: { $min: "$timestamp" }, last: { $max: "$timestamp" }, count: { $sum: 1 } } },
          { $sort: { _id: 1 } }
        ],
        { promoteValues: false }
      )
      .toArray()
    expect(result.map((doc) => [doc["_id"], tagOf(doc["total"]), Number(doc["total"]), (doc["first"] as Date).getTime() - T0.getTime(), (doc["last"] as Date).getTime() - T0.getTime(), Number(doc["count"])])).toEqual([
      [ENV_A, "Int32", 12, 1, 9, 3],
      [ENV_B, "Double", 3.5, 2, 7, 2],
      [ENV_C, "Int32", 0, 3, 4, 2]
    ])
  })

  it("projects included and computed fields, sorts on several keys and limits", async () => {
    const result = await events(name)
      .aggregate([
        { $match: { event: "CustomEvent" } },
        { $sort: { env_id: -1, timestamp: 1 } },
        { $project: { _id: 0, env_id: 1, offset: { $subtract: ["$timestamp", T0] }, value: "$properties.numericValue" } },
        { $limit: 4 }
      ])
      .toArray()
    expect(result).toEqual([
      { env_id: ENV_C, offset: 3, value: "not a number" },
      { env_id: ENV_B, offset: 2, value: 2.5 },
      { env_id: ENV_B, offset: 7, value: 1 },
      { env_id: ENV_A, offset: 1, value: 4 }
    ])
  })

  it("reads a large result through getMore, in order and whole", async () => {
    const many = Array.from({ length: 5_000 }, (_, i) => flagDoc(i, new Date(T0.getTime() + ((i * 7_919) % 5_000)), i % 2 ? ENV_A : ENV_B))
    const big = fill(many)
    const before = server.commands.length
    const result = await events(big)
      .aggregate([{ $group: { _id: { $subtract: ["$timestamp", T0] }, n: { $sum: 1 } } }, { $sort: { _id: 1 } }], { batchSize: 100 })
      .toArray()
    expect(result).toEqual(Array.from({ length: 5_000 }, (_, i) => ({ _id: i, n: 1 })))
    const getMores = server.commands.slice(before).filter((command) => command.name === "getMore")
    expect(getMores.length).toBe(49)
    expect(getMores.every((command) => command.body["collection"] === big)).toBe(true)
  })

  it("reads an absent collection as empty, without creating it", async () => {
    expect(await events("NoSuchCollection").aggregate([{ $group: { _id: null, n: { $sum: 1 } } }]).toArray()).toEqual([])
    const names = (await client.db("featbit").listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)
    expect(names).not.toContain("NoSuchCollection")
    expect(names).toContain(name)
  })

  it("refuses what it does not support with MongoDB's error codes", async () => {
    const failure = (pipeline: Array<Document>) => events(name).aggregate(pipeline).toArray().then(() => "no error", (error: { code?: number }) => error.code)
    expect(await failure([{ $unknownStage: {} }])).toBe(40324)
    expect(await failure([{ $project: { x: { $noSuchOperator: 1 } } }])).toBe(168)
    expect(await failure([{ $group: { _id: null, x: { $noSuchAccumulator: 1 } } }])).toBe(15952)
    expect(await failure([{ $project: { x: { $subtract: ["$event", 1] } } }])).toBe(16556)
    expect(await failure([{ $project: { x: { $divide: [1, 0] } } }])).toBe(2)
    expect(await failure([{ $group: { n: { $sum: 1 } } }])).toBe(15955)
  })
})

describe("find with a hint and a comment", () => {
  const name = fill(Array.from({ length: 20 }, (_, i) => flagDoc(i, new Date(T0.getTime() + i))))
  server.setIndexes("featbit", name, [{ name: "timestamp_1__id_1", key: { timestamp: 1, _id: 1 } }])

  it("accepts a hint of an existing index (by key or name) and a comment, and returns the same documents", async () => {
    const plain = await events(name).find({ timestamp: { $gte: new Date(T0.getTime() + 5) } }, { sort: { timestamp: 1, _id: 1 } }).toArray()
    expect(plain.length).toBe(15)
    const hinted = await events(name).find({ timestamp: { $gte: new Date(T0.getTime() + 5) } }, { sort: { timestamp: 1, _id: 1 }, hint: { timestamp: 1, _id: 1 }, comment: "page" }).toArray()
    expect(hinted).toEqual(plain)
    expect(await events(name).find({}, { hint: "timestamp_1__id_1" }).toArray()).toHaveLength(20)
    const sent = server.commands.filter((command) => command.name === "find" && command.body["comment"] === "page")
    expect(sent.map((command) => command.body["hint"])).toEqual([{ timestamp: 1, _id: 1 }])
  })

  it("fails a hint of no index, as MongoDB's planner does", async () => {
    const error = await events(name).find({}, { hint: { env_id: 1, timestamp: 1 } }).toArray().then(() => undefined, (e: { code?: number }) => e)
    expect(error?.code).toBe(2)
  })
})

describe("the server's clock", () => {
  const within = (date: unknown, from: number, to: number): void => {
    expect(date).toBeInstanceOf(Date)
    expect((date as Date).getTime()).toBeGreaterThanOrEqual(from)
    expect((date as Date).getTime()).toBeLessThanOrEqual(to)
  }

  it("puts hello's localTime at the runner's clock plus the offset, and follows setClockOffset", async () => {
    const skewed = await serverWith({ clockOffsetMs: 2 * HOUR })
    const admin = clientOf(skewed.url).db("admin")
    let before = Date.now()
    let hello = await admin.command({ hello: 1 })
    within(hello["localTime"], before + 2 * HOUR, Date.now() + 2 * HOUR)

    skewed.setClockOffset(-30 * 60_000)
    before = Date.now()
    hello = await admin.command({ hello: 1 })
    within(hello["localTime"], before - 30 * 60_000, Date.now() - 30 * 60_000)
    within(skewed.now(), Date.now() - 30 * 60_000 - 1_000, Date.now() - 30 * 60_000)
  })

  it("evaluates $$NOW on the server's clock, in $project and in a $match's $expr, and in find's $expr", async () => {
    const skewed = await serverWith({ clockOffsetMs: 2 * HOUR })
    // One hour ahead of the runner: in the server's past while it runs two hours ahead, in its future at offset 0.
    const ahead = new Date(Date.now() + HOUR)
    skewed.insert("featbit", "Events", [flagDoc(1, ahead), flagDoc(2, new Date(Date.now() - HOUR))])
    const coll = clientOf(skewed.url).db("featbit").collection("Events")

    const before = Date.now()
    const projected = await coll.aggregate([{ $project: { _id: 0, now: "$$NOW" } }]).toArray()
    expect(projected.length).toBe(2)
    for (const doc of projected) within(doc["now"], before + 2 * HOUR, Date.now() + 2 * HOUR)
    // One instant for the whole command.
    expect((projected[0]!["now"] as Date).getTime()).toBe((projected[1]!["now"] as Date).getTime())

    const notFuture = { $expr: { $lte: ["$timestamp", "$$NOW"] } }
    expect((await coll.aggregate([{ $match: notFuture }]).toArray()).map((doc) => doc["_id"])).toEqual([uuid(1), uuid(2)])
    expect((await coll.find(notFuture).toArray()).map((doc) => doc["_id"])).toEqual([uuid(1), uuid(2)])
    skewed.setClockOffset(0)
    expect((await coll.aggregate([{ $match: notFuture }]).toArray()).map((doc) => doc["_id"])).toEqual([uuid(2)])
    expect((await coll.find(notFuture).toArray()).map((doc) => doc["_id"])).toEqual([uuid(2)])
  })
})

describe("the command log", () => {
  it("records the application's hello and aggregate, never the handshakes and heartbeats", async () => {
    const fresh = await serverWith({})
    const c = clientOf(fresh.urlWith({ params: { heartbeatFrequencyMS: "500" } }))
    let heartbeats = 0
    c.on("serverHeartbeatSucceeded", () => void heartbeats++)
    fresh.insert("featbit", "Events", [flagDoc(1, T0)])
    await c.db("admin").command({ hello: 1 })
    await c.db("featbit").collection("Events").aggregate([{ $match: { env_id: ENV_A } }]).toArray()
    while (heartbeats < 3) await sleep(50)
    expect(fresh.commands.filter((command) => command.name === "hello").length).toBe(1)
    expect(fresh.commands.filter((command) => command.name === "hello")[0]!.db).toBe("admin")
    expect(fresh.commands.filter((command) => command.name === "aggregate").map((command) => command.body["pipeline"])).toEqual([[{ $match: { env_id: ENV_A } }]])
    expect(fresh.commands.some((command) => command.name === "ismaster" || command.name === "isMaster")).toBe(false)
  })
})

describe("a fixed port, stop and start", () => {

  it("listens on the port it is given, and a second server cannot take it", async () => {
    const port = await freePort()
    const fixed = await serverWith({ port })
    expect(fixed.port).toBe(port)
    expect(fixed.url).toContain(`127.0.0.1:${port}/`)
    expect(await connectionRefused(port)).toBe(false)
    await expect(startMongoWireServer({ port })).rejects.toThrow(/EADDRINUSE/)
    expect((await clientOf(`mongodb://127.0.0.1:${port}/?directConnection=true`).db("admin").command({ ping: 1 }))["ok"]).toBe(1)
  })

  it("refuses connections while stopped, keeps its documents, and the same client reads again after start", async () => {
    const port = await freePort()
    const fixed = await serverWith({ port })
    const docs = spread()
    fixed.insert("featbit", "Events", docs)
    const expected = expectedBuckets(docs)
    const c = clientOf(fixed.urlWith({ params: { serverSelectionTimeoutMS: "5000", heartbeatFrequencyMS: "500" } }))
    const coll = c.db("featbit").collection("Events")
    expect(await coll.aggregate(bucketPipeline(toLongBucket)).toArray()).toEqual(expected)
    expect(fixed.connections()).toBeGreaterThan(0)

    await fixed.stop()
    expect(fixed.running()).toBe(false)
    expect(fixed.connections()).toBe(0)
    expect(await connectionRefused(port)).toBe(true)
    const impatient = clientOf(fixed.urlWith({ params: { serverSelectionTimeoutMS: "500" } }))
    await expect(impatient.db("featbit").collection("Events").countDocuments()).rejects.toThrow()

    await fixed.start()
    expect(fixed.running()).toBe(true)
    expect(fixed.port).toBe(port)
    expect(await connectionRefused(port)).toBe(false)
    expect(await coll.aggregate(bucketPipeline(toLongBucket)).toArray()).toEqual(expected)
    expect(await coll.countDocuments()).toBe(docs.length)
  })

  it("serves an operation that was started while it was down, once it is back", async () => {
    const port = await freePort()
    const fixed = await serverWith({ port })
    fixed.insert("featbit", "Events", [flagDoc(1, T0), flagDoc(2, T0)])
    await fixed.stop()
    const c = clientOf(fixed.urlWith({ params: { serverSelectionTimeoutMS: "5000", heartbeatFrequencyMS: "500" } }))
    let settled = false
    const pending = c.db("featbit").collection("Events").find({}).toArray().finally(() => (settled = true))
    await sleep(700)
    expect(settled).toBe(false)
    await fixed.start()
    expect((await pending).map((doc) => doc["_id"])).toEqual([uuid(1), uuid(2)])
  })

  it("loses open cursors in a restart, as mongod does: a getMore after it fails with CursorNotFound", async () => {
    const fixed = await serverWith({ port: await freePort() })
    fixed.insert("featbit", "Events", Array.from({ length: 100 }, (_, i) => flagDoc(i, new Date(T0.getTime() + i))))
    const params = { serverSelectionTimeoutMS: "5000", heartbeatFrequencyMS: "500" }
    const db = clientOf(fixed.urlWith({ params })).db("featbit")
    const opened = await db.command({ aggregate: "Events", pipeline: [{ $sort: { timestamp: 1 } }], cursor: { batchSize: 10 } })
    const id = opened["cursor"]["id"]
    expect(opened["cursor"]["firstBatch"].map((doc: Document) => doc["_id"])).toEqual(Array.from({ length: 10 }, (_, i) => uuid(i)))
    const next = await db.command({ getMore: id, collection: "Events", batchSize: 10 })
    expect(next["cursor"]["nextBatch"].map((doc: Document) => doc["_id"])).toEqual(Array.from({ length: 10 }, (_, i) => uuid(10 + i)))

    // The driver's own cursor dies with its connection (getMore is not retried).
    const cursor = db.collection("Events").aggregate([{ $sort: { timestamp: 1 } }], { batchSize: 10 })
    expect((await cursor.next())?.["_id"]).toBe(uuid(0))
    await fixed.stop()
    await fixed.start()
    await expect(cursor.toArray()).rejects.toThrow()
    await cursor.close().catch(() => undefined)

    // A connection made after the restart reaches the server, which no longer has the cursor.
    const after = clientOf(fixed.urlWith({ params })).db("featbit")
    const error = await after.command({ getMore: id, collection: "Events", batchSize: 10 }).then(() => undefined, (e: { code?: number }) => e)
    expect(error?.code).toBe(43)
  })
})
