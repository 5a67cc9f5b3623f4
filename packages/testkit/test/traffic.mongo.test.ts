import { describe, expect, it } from "vitest"
import { mongoTrafficStore, startMongoWireServer, startTraffic } from "../src/index.js"

// The official driver is a dependency of source-mongo, not of this kit: the test runs where the driver
// can be imported from here, and says it is skipped otherwise.
interface Driver {
  readonly MongoClient: new (url: string) => {
    connect(): Promise<unknown>
    close(): Promise<void>
    db(name: string): {
      collection(name: string): { find(filter: object): { sort(sort: object): { toArray(): Promise<Array<Record<string, unknown>>> } } }
    }
  }
}
const driverName = "mongodb"
const driver = (await import(driverName).catch(() => undefined)) as Driver | undefined

describe("traffic into the MongoDB wire server, read back with the official driver", () => {
  it.skipIf(driver === undefined)("stores every written row as an Events document the driver reads back", async () => {
    const server = await startMongoWireServer()
    const client = new driver!.MongoClient(server.url)
    try {
      const traffic = startTraffic(mongoTrafficStore(server), { rate: 2000, flushInterval: 20, lateShare: 0.1, envIds: ["env-live"] })
      await new Promise((resolve) => setTimeout(resolve, 200))
      await traffic.stop()
      const written = traffic.written()
      expect(written.length).toBeGreaterThan(0)
      await client.connect()
      const documents = await client.db("featbit").collection("Events").find({}).sort({ timestamp: 1, _id: 1 }).toArray()
      expect(documents.map((document) => document["_id"]).sort()).toEqual(written.map((row) => row.id).sort())
      const byId = new Map(written.map((row) => [row.id, row]))
      for (const document of documents) {
        const row = byId.get(document["_id"] as string)!
        expect((document["timestamp"] as Date).toISOString()).toBe(row.timestamp.slice(0, 23) + "Z")
        expect(document["env_id"]).toBe("env-live")
        expect(document["event"]).toBe(row.event)
      }
      const late = new Set(traffic.late().map((row) => row.id))
      expect(late.size).toBeGreaterThan(0)
      // The late rows are the oldest documents: stamped minutes before the others.
      expect(new Set(documents.slice(0, late.size).map((document) => document["_id"]))).toEqual(late)
    } finally {
      await client.close()
      await server.close()
    }
  })
})
