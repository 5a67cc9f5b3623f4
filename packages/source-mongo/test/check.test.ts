import { startMongoWireServer } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { afterAll, describe, expect, it } from "vitest"
import { createIndexCommand, servesKeyset } from "../src/index.js"
import { at, flagDoc, run } from "./support/docs.js"
import { freshCollection, openSource } from "./support/harness.js"

const server = await startMongoWireServer()
const locked = await startMongoWireServer({ rejectAuth: true })
afterAll(() => Promise.all([server.close(), locked.close()]))

const FEATBIT_INDEX = { name: "event_1_env_id_1_distinct_id_1_timestamp_1", key: { event: 1, env_id: 1, distinct_id: 1, timestamp: 1 } } as const

const check = (options: Parameters<typeof openSource>[1], target = server) =>
  run(Effect.flatMap(openSource(target, options), (source) => source.check!))

describe("check", () => {
  it("tells the exact index to create when only FeatBit's index exists, and the source still reads", async () => {
    const collection = freshCollection()
    server.insert("featbit", collection, [flagDoc(1, at(0))])
    server.setIndexes("featbit", collection, [FEATBIT_INDEX])
    const facts = await check({ collection, envIds: ["env-aaaa"] })
    expect(facts[0]).toMatch(/^connected to MongoDB .* at mongodb:\/\/127\.0\.0\.1:\d+$/)
    expect(facts).toContain(`collection featbit.${collection} exists`)
    const advice = facts.find((fact) => fact.includes("createIndex"))
    expect(advice).toContain(`db.${collection}.createIndex({ env_id: 1, timestamp: 1, _id: 1 })`)
    expect(advice).toContain("the source works, slower")
    expect(facts[facts.length - 1]).toContain("can read")
    // The collection's indexes were read with listIndexes.
    expect(server.commands.some((c) => c.name === "listIndexes" && c.body["listIndexes"] === collection)).toBe(true)
  })

  it("recognises an index that serves the keyset order", async () => {
    const collection = freshCollection()
    server.insert("featbit", collection, [flagDoc(1, at(0))])
    server.setIndexes("featbit", collection, [FEATBIT_INDEX, { name: "keyset", key: { env_id: 1, timestamp: 1, _id: 1 } }])
    const facts = await check({ collection, envIds: ["env-aaaa"] })
    expect(facts).toContain("the index keyset { env_id: 1, timestamp: 1, _id: 1 } serves the keyset reads")
    expect(facts.some((fact) => fact.includes("createIndex"))).toBe(false)
    // Without envIds, an index that leads with env_id cannot give the keyset order.
    const all = await check({ collection })
    expect(all.find((fact) => fact.includes("createIndex"))).toContain(`db.${collection}.createIndex({ timestamp: 1, _id: 1 })`)
  })

  it("says when the existing index gives the order but walks the other environments", async () => {
    const collection = freshCollection()
    server.insert("featbit", collection, [flagDoc(1, at(0))])
    server.setIndexes("featbit", collection, [{ name: "ts", key: { timestamp: 1, _id: 1 } }])
    const facts = await check({ collection, envIds: ["env-aaaa"] })
    const advice = facts.find((fact) => fact.includes("createIndex"))!
    expect(advice).toContain("the index ts { timestamp: 1, _id: 1 } returns pages in keyset order but also walks")
    expect(advice).toContain(`db.${collection}.createIndex({ env_id: 1, timestamp: 1, _id: 1 })`)
    expect((await check({ collection }))).toContain("the index ts { timestamp: 1, _id: 1 } serves the keyset reads")
  })

  it("says which collections exist when the configured one does not", async () => {
    const collection = freshCollection()
    server.insert("featbit", collection, [flagDoc(1, at(0))])
    const exit = await Effect.runPromiseExit(Effect.scoped(Effect.flatMap(openSource(server, { collection: "Evnets" }), (s) => s.check!)))
    expect(exit._tag).toBe("Failure")
    const text = JSON.stringify(exit)
    expect(text).toContain("featbit.Evnets does not exist")
    expect(text).toContain(collection)
  })

  it("fails on rejected credentials without printing the password", async () => {
    const password = "hunter2-very-secret"
    const exit = await Effect.runPromiseExit(
      Effect.scoped(Effect.flatMap(openSource(locked, { url: locked.urlWith({ user: "reader", password }) }), (s) => s.check!))
    )
    expect(exit._tag).toBe("Failure")
    const error = exit._tag === "Failure" && exit.cause._tag === "Fail" ? exit.cause.error : undefined
    expect(error).toMatchObject({ _tag: "SourceError", retryable: false })
    expect((error as { message: string }).message).toContain("refused the credentials")
    expect((error as { message: string }).message).not.toContain(password)
  })
})

describe("index rules", () => {
  it("accepts equality fields in any order before timestamp and _id, and nothing else", () => {
    const both = { envIds: ["e"], events: ["FlagValue"] }
    expect(servesKeyset({ event: 1, env_id: 1, timestamp: 1, _id: 1 }, both)).toBe(true)
    expect(servesKeyset({ timestamp: -1, _id: -1 }, both)).toBe(true)
    expect(servesKeyset({ timestamp: 1, _id: -1 }, both)).toBe(false)
    expect(servesKeyset(FEATBIT_INDEX.key, both)).toBe(false)
    expect(servesKeyset({ env_id: 1, timestamp: 1, _id: 1 }, { envIds: undefined, events: undefined })).toBe(false)
    expect(createIndexCommand("Events", both)).toBe("db.Events.createIndex({ env_id: 1, event: 1, timestamp: 1, _id: 1 })")
    expect(createIndexCommand("my events", { envIds: undefined, events: undefined })).toBe('db.getCollection("my events").createIndex({ timestamp: 1, _id: 1 })')
  })
})
