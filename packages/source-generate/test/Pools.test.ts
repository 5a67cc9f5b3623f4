import type { FeatBitRow } from "@featbit-export/core"
import { describe, expect, it } from "vitest"
import {
  DEFAULT_FLAGS,
  DEFAULT_USERS,
  MAX_FLAGS,
  flagPool,
  generateRows,
  handWrittenFlags,
  handWrittenUsers,
  userPool
} from "../src/index.js"

const userOf = (row: FeatBitRow): { keyId: string; name: string } => {
  const p = JSON.parse(row.properties as string) as Record<string, unknown>
  return row.event === "FlagValue"
    ? { keyId: p["userKeyId"] as string, name: p["userName"] as string }
    : (p["user"] as { keyId: string; name: string })
}

const flagKeyOf = (row: FeatBitRow): string | undefined =>
  row.event === "FlagValue" ? ((JSON.parse(row.properties as string) as Record<string, unknown>)["featureFlagKey"] as string) : undefined

const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe("the default pools", () => {
  // One sample shared by the cases below: 100,000 rows take about a second to build.
  const sample = [...generateRows({ count: 100_000, seed: 2024 })]

  it("give at least 10,000 distinct users and 50 distinct flags in 100,000 events", () => {
    const users = new Set(sample.map((row) => userOf(row).keyId))
    const flags = new Set(sample.flatMap((row) => flagKeyOf(row) ?? []))
    expect(users.size).toBeGreaterThanOrEqual(10_000)
    expect(flags.size).toBeGreaterThanOrEqual(50)
    // Nearly every event has a user of its own, as in real traffic: no user stands out.
    const perUser = new Map<string, number>()
    for (const row of sample) perUser.set(userOf(row).keyId, (perUser.get(userOf(row).keyId) ?? 0) + 1)
    expect(Math.max(...perUser.values())).toBeLessThan(30)
  })

  it("still show the hand-written users, with their names, among the others", () => {
    const seen = new Map(sample.map((row) => [userOf(row).keyId, userOf(row).name]))
    const present = handWrittenUsers.filter((user) => seen.get(user.keyId) === user.name)
    expect(present.length).toBeGreaterThanOrEqual(handWrittenUsers.length - 3)
  })

  it("write every user exactly as the pool defines it, whatever the seed", () => {
    const byKeyId = new Map(userPool().map((user) => [user.keyId, user.name]))
    for (const rows of [sample.slice(0, 20_000), [...generateRows({ count: 20_000, seed: 99 })]]) {
      for (const row of rows) {
        const user = userOf(row)
        expect(byKeyId.get(user.keyId), user.keyId).toBe(user.name)
      }
    }
  })
})

describe("userPool", () => {
  it("starts with the hand-written users and has the default size", () => {
    const pool = userPool()
    expect(pool).toHaveLength(DEFAULT_USERS)
    expect(pool.slice(0, handWrittenUsers.length)).toEqual(handWrittenUsers)
    expect(userPool(10)).toEqual(handWrittenUsers.slice(0, 10))
  })

  it("is the same users at the same positions for every size", () => {
    expect(userPool(500)).toEqual(userPool(20_000).slice(0, 500))
  })

  it("never repeats a keyId, and keeps them as SDKs send them", () => {
    const pool = userPool(200_000)
    expect(new Set(pool.map((user) => user.keyId)).size).toBe(pool.length)
    for (const user of pool.slice(handWrittenUsers.length)) expect(user.keyId).toMatch(/^(u-\d{6,}|[a-z]+\.\d+@[a-z.]+|guest-[0-9a-f]{8})$/)
  })

  it("mixes account ids, e-mail addresses and nameless guests, with names in several scripts", () => {
    const generated = userPool(2_000).slice(handWrittenUsers.length)
    expect(generated.filter((user) => user.keyId.startsWith("u-")).length).toBeGreaterThan(generated.length / 2)
    expect(generated.some((user) => user.keyId.includes("@"))).toBe(true)
    const guests = generated.filter((user) => user.keyId.startsWith("guest-"))
    expect(guests.length).toBeGreaterThan(0)
    for (const guest of guests) expect(guest.name).toBe("")
    const named = generated.filter((user) => user.name !== "")
    expect(named.some((user) => /^[\x00-\xff]+$/.test(user.name))).toBe(true)
    for (const script of [/\p{Script=Cyrillic}/u, /\p{Script=Han}/u, /\p{Script=Hangul}/u, /\p{Script=Arabic}/u, /\p{Script=Greek}/u]) {
      expect(named.some((user) => script.test(user.name)), String(script)).toBe(true)
    }
    expect(new Set(named.map((user) => user.name)).size).toBeGreaterThan(200)
  })

  it("refuses a size outside 1..MAX_USERS", () => {
    for (const size of [0, -1, 2.5, 1_000_001]) expect(() => userPool(size), String(size)).toThrow(RangeError)
  })
})

describe("flagPool", () => {
  it("starts with the hand-written flags, then adds valid keys with two to four variations", () => {
    const pool = flagPool()
    expect(pool).toHaveLength(DEFAULT_FLAGS)
    expect(pool.slice(0, handWrittenFlags.length)).toEqual(handWrittenFlags)
    expect(handWrittenFlags.map((flag) => flag.key)).toContain("growthbook-test-001")
    for (const flag of pool) {
      expect(flag.key).toMatch(/^[a-zA-Z0-9._-]+$/)
      expect(flag.variationIds.length).toBeGreaterThanOrEqual(2)
      expect(flag.variationIds.length).toBeLessThanOrEqual(4)
      for (const id of flag.variationIds) expect(id).toMatch(uuidV4)
    }
    const counts = new Set(pool.map((flag) => flag.variationIds.length))
    expect([...counts].sort()).toEqual([2, 3, 4])
  })

  it("never repeats a key or a variation id, up to the largest pool", () => {
    const pool = flagPool(MAX_FLAGS)
    expect(new Set(pool.map((flag) => flag.key)).size).toBe(MAX_FLAGS)
    const ids = pool.flatMap((flag) => flag.variationIds)
    expect(new Set(ids).size).toBe(ids.length)
    for (const flag of pool) expect(flag.key).toMatch(/^[a-zA-Z0-9._-]+$/)
  })

  it("is the same flags at the same positions for every size", () => {
    expect(flagPool(20)).toEqual(flagPool(60).slice(0, 20))
    expect(flagPool(5)).toEqual(handWrittenFlags.slice(0, 5))
  })

  it("refuses a size outside 1..MAX_FLAGS", () => {
    for (const size of [0, 1.5, MAX_FLAGS + 1]) expect(() => flagPool(size), String(size)).toThrow(RangeError)
  })
})

describe("configurable pool sizes", () => {
  it("draw users only from the first `users` of the pool, and use nearly all of them", () => {
    const pool = userPool(100)
    const allowed = new Map(pool.map((user) => [user.keyId, user.name]))
    const rows = [...generateRows({ count: 5_000, seed: 3, users: 100 })]
    const seen = new Set<string>()
    for (const row of rows) {
      const user = userOf(row)
      expect(allowed.get(user.keyId), user.keyId).toBe(user.name)
      seen.add(user.keyId)
    }
    expect(seen.size).toBeGreaterThan(95)
  })

  it("draw flags only from the first `flags` of the pool, in every environment", () => {
    const allowed = new Set(flagPool(5).map((flag) => flag.key))
    const rows = [...generateRows({ count: 5_000, seed: 4, flags: 5, envIds: ["a", "b"] })]
    const seen = new Set(rows.flatMap((row) => flagKeyOf(row) ?? []))
    expect(seen).toEqual(allowed)
    const wide = new Set([...generateRows({ count: 50_000, seed: 4, flags: 500 })].flatMap((row) => flagKeyOf(row) ?? []))
    expect(wide.size).toBeGreaterThan(450)
    const pool = new Set(flagPool(500).map((flag) => flag.key))
    for (const key of wide) expect(pool.has(key)).toBe(true)
  })

  it("keep the seed deciding everything else: the same options give the same rows", () => {
    const options = { count: 2_000, seed: 8, users: 321, flags: 17 }
    expect([...generateRows(options)]).toEqual([...generateRows(options)])
    expect([...generateRows(options)].map((row) => row.id)).toEqual([...generateRows({ ...options, users: 5000 })].map((row) => row.id))
  })
})
