/**
 * The wire server's port, stop/start and clock, spoken to with raw OP_MSG frames (this package cannot import
 * the driver; packages/source-mongo/test/wire-server.test.ts drives the same features with it).
 */
import { type Document, deserialize, serialize } from "bson"
import * as net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { type MongoWireServer, connectionRefused, freePort, startMongoWireServer } from "../src/mongo/index.js"

const opened: Array<MongoWireServer> = []
afterEach(async () => {
  for (const server of opened.splice(0)) await server.close()
})
const start = async (options: Parameters<typeof startMongoWireServer>[0]) => {
  const server = await startMongoWireServer(options)
  opened.push(server)
  return server
}

/** Sends one OP_MSG command on a new connection and returns the reply's document (promoteValues off: bson types kept). */
const command = (port: number, doc: Document): Promise<Document> =>
  new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1")
    const bson = Buffer.from(serialize(doc))
    const message = Buffer.alloc(16 + 5 + bson.length)
    message.writeInt32LE(message.length, 0)
    message.writeInt32LE(1, 4)
    message.writeInt32LE(0, 8)
    message.writeInt32LE(2013, 12)
    message.writeUInt32LE(0, 16)
    message.writeUInt8(0, 20)
    bson.copy(message, 21)
    let received = Buffer.alloc(0)
    socket.on("error", reject)
    socket.on("connect", () => socket.write(message))
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (received.length >= 4 && received.length >= received.readInt32LE(0)) {
        socket.destroy()
        expect(received.readInt32LE(8)).toBe(1) // responseTo
        expect(received.readInt32LE(12)).toBe(2013)
        resolve(deserialize(received.subarray(21, received.readInt32LE(0)), { promoteValues: false }))
      }
    })
  })


const count = async (port: number): Promise<number> => {
  const reply = await command(port, { aggregate: "Events", pipeline: [{ $group: { _id: null, n: { $sum: 1 } } }], cursor: {}, $db: "featbit" })
  return Number(reply["cursor"]["firstBatch"][0]?.["n"] ?? 0)
}

describe("port, stop and start", () => {
  it("freePort gives a port that a server then listens on", async () => {
    const port = await freePort()
    expect(port).toBeGreaterThan(0)
    expect(await connectionRefused(port)).toBe(true)
    const server = await start({ port })
    expect(server.port).toBe(port)
    expect(server.url).toBe(`mongodb://127.0.0.1:${port}/?directConnection=true&serverSelectionTimeoutMS=2000`)
    expect(Number((await command(port, { ping: 1, $db: "admin" }))["ok"])).toBe(1)
  })

  it("takes any port without the option, and keeps it across a restart", async () => {
    const server = await start({})
    expect(server.port).toBeGreaterThan(0)
    const port = server.port
    await server.stop()
    await server.start()
    expect(server.port).toBe(port)
    expect(await connectionRefused(port)).toBe(false)
  })

  it("refuses connections while stopped and answers with the same documents after start; stop and start are idempotent", async () => {
    const server = await start({ port: await freePort() })
    server.insert("featbit", "Events", Array.from({ length: 25 }, (_, i) => ({ _id: `id-${i}`, timestamp: new Date(i) })))
    expect(await count(server.port)).toBe(25)
    const held = net.connect(server.port, "127.0.0.1")
    await new Promise((resolve) => held.once("connect", resolve))
    const heldClosed = new Promise((resolve) => held.once("close", resolve))

    await server.stop()
    await server.stop()
    expect(server.running()).toBe(false)
    expect(server.connections()).toBe(0)
    expect(await connectionRefused(server.port)).toBe(true)
    await heldClosed // the open connection was dropped, as a stopped mongod drops it

    await server.start()
    await server.start()
    expect(server.running()).toBe(true)
    expect(await count(server.port)).toBe(25)
    server.insert("featbit", "Events", [{ _id: "id-25", timestamp: new Date(25) }])
    expect(await count(server.port)).toBe(26)
  })

  it("cannot start again after close", async () => {
    const server = await startMongoWireServer({})
    await server.close()
    await expect(server.start()).rejects.toThrow(/closed/)
    expect(await connectionRefused(server.port)).toBe(true)
  })
})

describe("the server's clock", () => {
  it("sets hello's localTime and $$NOW from the offset, changed by setClockOffset", async () => {
    const server = await start({ clockOffsetMs: -86_400_000 })
    server.insert("featbit", "Events", [{ _id: 1 }])
    let before = Date.now()
    const hello = await command(server.port, { hello: 1, $db: "admin" })
    expect((hello["localTime"] as Date).getTime()).toBeGreaterThanOrEqual(before - 86_400_000)
    expect((hello["localTime"] as Date).getTime()).toBeLessThanOrEqual(Date.now() - 86_400_000)

    server.setClockOffset(5_000)
    before = Date.now()
    const reply = await command(server.port, { aggregate: "Events", pipeline: [{ $project: { now: "$$NOW" } }], cursor: {}, $db: "featbit" })
    const now = reply["cursor"]["firstBatch"][0]["now"] as Date
    expect(now.getTime()).toBeGreaterThanOrEqual(before + 5_000)
    expect(now.getTime()).toBeLessThanOrEqual(Date.now() + 5_000)
  })

  it("replies to aggregate with a cursor document and MongoDB's types, and an error document for a bad pipeline", async () => {
    const server = await start({})
    server.insert("featbit", "Events", [{ _id: 1, timestamp: new Date(25_000) }, { _id: 2, timestamp: new Date(-1) }])
    const reply = await command(server.port, {
      aggregate: "Events",
      pipeline: [{ $group: { _id: { $floor: { $divide: [{ $toLong: "$timestamp" }, 10_000] } }, n: { $sum: 1 } } }, { $sort: { _id: 1 } }],
      cursor: {},
      $db: "featbit"
    })
    expect(reply["cursor"]["ns"]).toBe("featbit.Events")
    expect(String(reply["cursor"]["id"])).toBe("0")
    const batch = reply["cursor"]["firstBatch"] as Array<Document>
    expect(batch.map((doc) => [doc["_id"]._bsontype, Number(doc["_id"]), doc["n"]._bsontype, Number(doc["n"])])).toEqual([
      ["Double", -1, "Int32", 1],
      ["Double", 2, "Int32", 1]
    ])
    const missingCursor = await command(server.port, { aggregate: "Events", pipeline: [], $db: "featbit" })
    expect([Number(missingCursor["ok"]), Number(missingCursor["code"]), missingCursor["codeName"]]).toEqual([0, 9, "FailedToParse"])
    expect(server.commands.map((c) => c.name)).toEqual(["aggregate", "aggregate"])
  })
})
