import { EventHubBufferedProducerClient } from "@azure/event-hubs"
import { userPool } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { hashPartitionKey, partitionIndexOf } from "../src/index.js"
import { run, sampleEvents, sdkMapper, setup } from "./support.js"

/** A deterministic PRNG, so a failing key can be reproduced. */
const random = (seed: number) => {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state / 2 ** 32
  }
}

// Characters of every UTF-8 length: ASCII, Latin-1, Greek and Cyrillic (2 bytes), CJK, Devanagari and
// combining marks (3 bytes), emoji (4 bytes, a surrogate pair in UTF-16).
const alphabet = [..."aZ09-_.@ éüßñ ΩЖж 李雷日本語キー 한국 हिन्दी e\u0301 🧪😀👩‍💻"]

/** 10,000 distinct keys: FeatBit-like user keys (the generator's pool) and random unicode ones of every length. */
const testKeys = (): Array<string> => {
  const keys = new Set<string>(["", "a", "\ud800", "x\udfffy", "k".repeat(12), "k".repeat(13), "k".repeat(24), "k".repeat(25), "u".repeat(300)])
  for (const user of userPool(20_000)) {
    if (keys.size >= 7_000) break
    keys.add(user.keyId)
  }
  const next = random(12)
  while (keys.size < 10_000) {
    const length = Math.floor(next() * 41)
    let key = ""
    for (let i = 0; i < length; i++) key += alphabet[Math.floor(next() * alphabet.length)]
    keys.add(key)
  }
  return [...keys]
}

describe("partition of a key", () => {
  it("is the SDK's own assignment for 10,000 keys, unicode and lone surrogates included, at every partition count", async () => {
    const sdk = await sdkMapper()
    const keys = testKeys()
    expect(keys.length).toBe(10_000)
    const mismatches: Array<string> = []
    for (const key of keys) {
      if (hashPartitionKey(key) !== sdk.hashPartitionKey(key)) mismatches.push(`hash ${JSON.stringify(key)}`)
      for (const count of [1, 2, 3, 4, 5, 8, 10, 16, 32, 100]) {
        if (partitionIndexOf(key, count) !== sdk.mapPartitionKeyToId(key, count)) mismatches.push(`${count} partitions: ${JSON.stringify(key)}`)
      }
    }
    expect(mismatches.slice(0, 10)).toEqual([])
    // The keys spread: a mapping that put every key in one partition could not pass by accident.
    const used = new Set(keys.map((key) => partitionIndexOf(key, 32)))
    expect(used.size).toBe(32)
  })

  it("sends each user's events to the partition the SDK's EventHubBufferedProducerClient puts that key in", async () => {
    const keys = testKeys()
    const events = sampleEvents(keys.length, 31).map((event, i) => ({ ...event, user: { ...event.user, keyId: keys[i]! } }))
    await run(
      Effect.gen(function* () {
        // The reference: the SDK's buffered producer assigns partitions on the client and sends to partition ids.
        const reference = yield* setup({}, { partitionCount: 7 })
        const errors: Array<unknown> = []
        yield* Effect.promise(async () => {
          const buffered = new EventHubBufferedProducerClient(reference.peer.connectionString(), {
            retryOptions: { maxRetries: 1, retryDelayInMs: 20, timeoutInMs: 5_000 },
            onSendEventsErrorHandler: (context) => void errors.push(context.error)
          })
          for (let i = 0; i < keys.length; i++) await buffered.enqueueEvent({ body: "x", messageId: String(i) }, { partitionKey: keys[i]! })
          await buffered.close({ flush: true })
        })
        expect(errors).toEqual([])
        const expected = new Map(reference.peer.events().map((r) => [keys[Number(r.messageId)]!, r.partition]))
        expect(expected.size).toBe(keys.length)

        const { peer, sink } = yield* setup({}, { partitionCount: 7 })
        yield* sink.write({ events, sequence: 0 })
        const keyOf = new Map(events.map((e) => [e.id, e.user.keyId]))
        const received = peer.events()
        expect(received.length).toBe(events.length)
        const wrong = received.filter((r) => r.partition !== expected.get(keyOf.get(r.messageId!)!))
        expect(wrong.map((r) => JSON.stringify(keyOf.get(r.messageId!))).slice(0, 10)).toEqual([])
        expect(new Set(received.map((r) => r.partition)).size).toBe(7)
      })
    )
  })
})
