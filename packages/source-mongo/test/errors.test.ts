import { SourceError } from "@featbit-export/core"
import { makeRecordingSink, makeTestStores, runOnce, startMongoWireServer } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import { afterAll, describe, expect, it } from "vitest"
import { classify, redact, secretsOf, targetOf } from "../src/index.js"
import { at, flagDoc, readAll, run, uuid } from "./support/docs.js"
import { freshCollection, openSource } from "./support/harness.js"

// Replies hold at most 50 documents, so a page of 200 takes a find and three getMores.
const server = await startMongoWireServer({ maxBatchSize: 50 })
const locked = await startMongoWireServer({ rejectAuth: true })
afterAll(() => Promise.all([server.close(), locked.close()]))

const fill = (count: number): string => {
  const collection = freshCollection()
  server.insert("featbit", collection, Array.from({ length: count }, (_, i) => flagDoc(i, at(Math.floor(i / 3)))))
  return collection
}

const readError = (options: Parameters<typeof openSource>[1], target = server) =>
  run(Effect.flip(Effect.flatMap(openSource(target, options), (source) => readAll(source, 200)))) as Promise<SourceError>

describe("connection faults through Pipeline.run", () => {
  it("loses and repeats nothing when connections drop between getMores and before a find reply", async () => {
    const collection = fill(1_000)
    server.fail({ command: "getMore", action: "drop" })
    const stores = makeTestStores()
    const sink = makeRecordingSink()
    const first = await run(Effect.flatMap(openSource(server, { collection }), (source) => runOnce(source, sink, stores, { batchSize: 200 })))
    expect(first.retries).toBeGreaterThanOrEqual(1)
    const delivered = sink.delivered.map((e) => e.id)
    expect(delivered).toEqual(Array.from({ length: 1_000 }, (_, i) => uuid(i)))

    // Again, with the drop before a find's reply, twice in a row so the driver's own retry fails too.
    const again = fill(600)
    server.fail({ command: "find", action: "drop" }, 2)
    const sink2 = makeRecordingSink()
    const second = await run(Effect.flatMap(openSource(server, { collection: again }), (source) => runOnce(source, sink2, makeTestStores(), { batchSize: 200 })))
    expect(second.retries).toBeGreaterThanOrEqual(1)
    expect(sink2.delivered.map((e) => e.id)).toEqual(Array.from({ length: 600 }, (_, i) => uuid(i)))
  })

  it("reports a dropped getMore as a transient SourceError", async () => {
    const collection = fill(300)
    server.fail({ command: "getMore", action: "drop" })
    const error = await readError({ collection })
    expect(error).toBeInstanceOf(SourceError)
    expect(error.retryable).toBe(true)
    expect(error.message).toContain("MongoNetworkError")
  })

  it("treats NotWritablePrimary as transient, and the engine reads on", async () => {
    const collection = fill(300)
    server.fail({ command: "find", action: "error", code: 10107, codeName: "NotWritablePrimary", errmsg: "not primary" }, 2)
    const error = await readError({ collection })
    expect(error.retryable).toBe(true)
    expect(error.message).toContain("not primary")
    server.fail({ command: "find", action: "error", code: 10107, codeName: "NotWritablePrimary", errmsg: "not primary" }, 2)
    const sink = makeRecordingSink()
    const summary = await run(Effect.flatMap(openSource(server, { collection }), (source) => runOnce(source, sink, makeTestStores(), { batchSize: 100 })))
    expect(summary.exported).toBe(300)
    expect(summary.retries).toBeGreaterThanOrEqual(1)
  })

  it("treats a silent server (socket timeout) as transient", async () => {
    const collection = fill(10)
    server.fail({ command: "find", action: "hang" }, 2)
    const error = await readError({ collection, url: server.urlWith({ params: { socketTimeoutMS: "300" } }) })
    expect(error.retryable).toBe(true)
    expect(error.message).toMatch(/MongoNetworkTimeoutError|timed out/)
  })

  it("treats a server that cannot be selected as transient", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const free = (probe.address() as net.AddressInfo).port
        probe.close(() => resolve(free))
      })
    })
    const url = `mongodb://127.0.0.1:${port}/?directConnection=true&serverSelectionTimeoutMS=300`
    const error = await readError({ collection: "Events", url })
    expect(error.retryable).toBe(true)
    expect(error.message).toContain("MongoServerSelectionError")
  })
})

describe("fatal errors", () => {
  const password = "p@ss w0rd!s3cret"
  const url = locked.urlWith({ user: "reader", password })

  it("stops on rejected credentials with a clear sentence that never shows the password", async () => {
    const error = await readError({ collection: "Events", url }, locked)
    expect(error.retryable).toBe(false)
    expect(error.message).toContain("refused the credentials")
    expect(error.message).toContain("127.0.0.1")
    expect(error.message).not.toContain(password)
    expect(error.message).not.toContain(encodeURIComponent(password))
    // Through the engine: one failure, no retry loop, no password.
    const failed = await run(Effect.flip(Effect.flatMap(openSource(locked, { collection: "Events", url }), (source) => runOnce(source, makeRecordingSink(), makeTestStores()))))
    expect(failed.message).toContain("refused the credentials")
    expect(failed.message).not.toContain(password)
  })

  it("stops when the user may not read the collection (Unauthorized, 13)", async () => {
    const collection = fill(5)
    server.fail({ command: "find", action: "error", code: 13, codeName: "Unauthorized", errmsg: "not authorized on featbit to execute command { find: ... }" })
    const error = await readError({ collection })
    expect(error.retryable).toBe(false)
    expect(error.message).toContain("grant it the read role on featbit")
  })

  it("keeps passwords out of every classified message, as written and url-encoded", () => {
    const url = "mongodb://u:p%40ss%21@db1:27017,db2:27017/featbit?authSource=admin"
    expect(secretsOf(url)).toEqual(["p%40ss%21", "p@ss!"])
    expect(targetOf(url)).toBe("mongodb://db1:27017,db2:27017")
    const context = { target: targetOf(url), database: "featbit", collection: "Events", secrets: secretsOf(url) }
    const error = classify(Object.assign(new Error("connect failed for p@ss! at db1"), { name: "MongoNetworkError" }), context, "reading")
    expect(error.retryable).toBe(true)
    expect(error.message).not.toContain("p@ss!")
    expect(redact("a p%40ss%21 b", context.secrets)).toBe("a *** b")
  })
})
