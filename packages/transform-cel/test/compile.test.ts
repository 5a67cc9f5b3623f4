import type { ExportEvent, MappableField, TransformOutcome, TransformSpec } from "@featbit-export/core"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { compile } from "../src/index.js"

// A flag evaluation and a metric as FeatBit stores them (values as the sources decode them).
const flag: ExportEvent = {
  event: "FlagValue",
  id: "7c0e8f6e-1b2a-4c1d-9e3f-000000000001",
  envId: "env-prod",
  distinctId: "env-prod-checkout-v2",
  timestamp: "2026-12-01T10:00:00.123456Z" as ExportEvent["timestamp"],
  user: { keyId: "u-42", name: "Ann Example" },
  route: "/Variation/GetMultiOptionVariation",
  accountId: "",
  projectId: "",
  tags: { plan: "pro" },
  properties: { plan: "pro", amount: 12.5, seats: 3 },
  flagId: "env-prod-checkout-v2",
  flagKey: "checkout-v2",
  variationId: "var-b",
  sendToExperiment: true
}
const metric = {
  ...flag,
  event: "CustomEvent",
  eventName: "purchase",
  numericValue: 99.5,
  applicationType: "Javascript",
  flagId: undefined,
  flagKey: undefined,
  variationId: undefined,
  sendToExperiment: undefined
} as unknown as ExportEvent
for (const key of ["flagId", "flagKey", "variationId", "sendToExperiment"]) delete (metric as unknown as Record<string, unknown>)[key]

const noSink = { type: "file", fields: {} }
const built = (spec: TransformSpec, fields: Record<string, MappableField> = {}) => {
  const result = compile(spec, { type: "test", fields })
  if (Either.isLeft(result)) throw new Error(`did not compile: ${JSON.stringify(result.left)}`)
  return result.right
}
const issues = (spec: TransformSpec, fields: Record<string, MappableField> = {}) => {
  const result = compile(spec, { type: "test", fields })
  if (Either.isRight(result)) throw new Error("compiled, but should not have")
  return result.left
}
const kept = (outcome: TransformOutcome) => {
  if (outcome._tag !== "Keep") throw new Error(`expected the event kept, got ${JSON.stringify(outcome)}`)
  return outcome
}

describe("filter", () => {
  it("keeps the events it is true for, and filters out the others of either kind", () => {
    const t = built({ filter: 'event == "FlagValue" && sendToExperiment && flagKey.startsWith("checkout-")' })
    expect(kept(t.apply(flag)).event).toBe(flag)
    expect(t.apply({ ...flag, flagKey: "search" })).toEqual({ _tag: "Filtered" })
    expect(t.apply({ ...flag, sendToExperiment: false })).toEqual({ _tag: "Filtered" })
    expect(t.apply(metric)).toEqual({ _tag: "Filtered" })
  })

  it("fails an event whose kind lacks a field the filter reads, saying which kind has it and how to guard it", () => {
    const outcome = built({ filter: 'flagKey.startsWith("checkout-")' }).apply(metric)
    expect(outcome._tag).toBe("Failed")
    expect((outcome as { reason: string }).reason).toBe(
      'filter: Unknown variable: flagKey: flagKey is set on FlagValue events only, and this is a CustomEvent event; test the kind first (event == "FlagValue" && ...) (expression: flagKey.startsWith("checkout-"))'
    )
  })

  it("refuses, when it compiles, an expression that is not true or false", () => {
    expect(issues({ filter: "flagKey" })).toEqual([{ path: ["filter"], message: "gives a string, where filter needs a bool", offset: 0 }])
  })
})

describe("set and drop", () => {
  it("adds and replaces top-level fields and keys under properties and tags, each from the event as it came", () => {
    const t = built({
      set: {
        "properties.plan": 'tags.?plan.orValue("free")',
        "tags.variation": "variationId",
        flagKey: 'flagKey + "-renamed"',
        experimentKey: 'flagKey + ":" + variationId',
        seatsPlusOne: "int(properties.seats) + 1"
      },
      drop: ["user.name", "properties.amount", "route"]
    })
    const out = kept(t.apply(structuredClone({ ...flag, tags: {} }))).event as unknown as Record<string, unknown>
    expect(out["properties"]).toEqual({ plan: "free", seats: 3 })
    expect(out["tags"]).toEqual({ variation: "var-b" })
    expect(out["flagKey"]).toBe("checkout-v2-renamed")
    // Every expression saw the event as it came, not the renamed flag key.
    expect(out["experimentKey"]).toBe("checkout-v2:var-b")
    // CEL integers arrive as numbers, never as bigints (JSON.stringify would throw on them).
    expect(out["seatsPlusOne"]).toBe(4)
    expect(typeof out["seatsPlusOne"]).toBe("number")
    expect(out["user"]).toEqual({ keyId: "u-42" })
    expect("route" in out).toBe(false)
    expect(JSON.parse(JSON.stringify(out))).toEqual(out)
  })

  it("turns CEL values JSON has no type for into JSON: timestamps as RFC 3339, bytes as base64, an empty optional as no field", () => {
    const t = built({ set: { "properties.at": 'timestamp("2026-12-01T10:00:00Z")', "properties.raw": 'b"ab"', "properties.gone": "properties.?nothing" } })
    const out = kept(t.apply(structuredClone(flag))).event.properties
    expect(out["at"]).toBe("2026-12-01T10:00:00.000Z")
    expect(out["raw"]).toBe("YWI=")
    expect("gone" in out).toBe(false)
  })

  it("dead-letters an integer JavaScript cannot hold exactly, rather than round it", () => {
    const outcome = built({ set: { big: "9007199254740993" } }).apply(flag)
    expect(outcome).toEqual({
      _tag: "Failed",
      reason: "transform.set.big: the integer 9007199254740993 is beyond what a JSON reader holds exactly (2^53); use a double or a string() (expression: 9007199254740993)"
    })
  })

  it("refuses what the engine relies on, and places that do not exist, each with a sentence", () => {
    const found = issues({ set: { id: '"x"', timestamp: '"x"', "foo.bar": '"x"', "user.email": '"x"' }, drop: ["user.keyId", "envId", "event"] })
    expect(found.map((issue) => [issue.path.join("."), issue.message])).toEqual([
      ["transform.set.id", "id cannot be replaced: it is the event's idempotency key at every destination"],
      ["transform.set.timestamp", "timestamp cannot be replaced: it is the event's place in the export's order; put another time in a new field or under properties"],
      ["transform.set.foo.bar", '"foo.bar": only keys under properties, tags or user can be named with a dot (properties.plan); foo has no keys'],
      ["transform.set.user.email", '"user.email": user has keyId and name only; put other user data under properties'],
      ["transform.drop.0", "user.keyId cannot be dropped: destinations identify the user by it; replace it with set: instead"],
      ["transform.drop.1", "envId cannot be dropped: sinks and checkpoints name the environment by it; replace it with set: instead"],
      ["transform.drop.2", "event cannot be dropped: the kind decides the event's shape; filter on it instead"]
    ])
  })

  it("checks a replaced field's type against the event's, and a tag's against text", () => {
    const found = issues({ set: { numericValue: '"high"', sendToExperiment: "1.0", "tags.n": "1.5" } })
    expect(found.map((issue) => issue.message)).toEqual([
      "gives a string, where transform.set.numericValue needs a double",
      "gives a double, where transform.set.sendToExperiment needs a bool",
      "gives a double, where transform.set.tags.n needs a string"
    ])
  })

  it("dead-letters an event a dyn expression gives the wrong type for, leaving it as the source gave it", () => {
    const event = structuredClone(flag)
    const outcome = built({ set: { "properties.first": '"changed?"', numericValue: "properties.plan" }, drop: ["user.name"] }).apply(event)
    expect(event).toEqual(flag)
    expect(outcome._tag).toBe("Failed")
    expect((outcome as { reason: string }).reason).toMatch(/^transform\.set\.numericValue: gave a string, where a double is needed \(expression: properties\.plan\)$/)
  })
})

describe("sink map", () => {
  const segment: Record<string, MappableField> = {
    event: { type: "string", description: "the track event's name" },
    properties: { type: "map", description: "the track properties" }
  }

  it("computes the sink's fields from the transformed event, new fields included", () => {
    const t = built(
      {
        set: { plan: 'tags.?plan.orValue("free")' },
        map: { event: 'event == "FlagValue" ? "Flag Evaluated" : eventName', properties: '{"flag": flagKey, "plan": plan, "value": 1}' }
      },
      segment
    )
    const out = kept(t.apply(structuredClone(flag)))
    expect(out.fields).toEqual({ event: "Flag Evaluated", properties: { flag: "checkout-v2", plan: "pro", value: 1 } })
    // A replayed event (already transformed) gets its fields again, and only them.
    expect(t.mapOnly(out.event)).toEqual(out)
  })

  it("names the sink's fields when one that does not exist is mapped, and checks types", () => {
    expect(issues({ map: { partitionKey: "envId", properties: "flagKey" } }, segment).map((issue) => issue.message)).toEqual([
      'the test sink has no field "partitionKey" to map; it has event, properties',
      "gives a string, where sink.map.properties needs a map"
    ])
    expect(issues({ map: { event: "envId" } }, {}).map((issue) => issue.message)).toEqual(["the test sink has no fields to map"])
  })

  it("an optional leaves a field to the sink (map) or as it was (set) when it is empty", () => {
    const t = built(
      {
        set: { flagKey: 'event == "FlagValue" && flagKey.startsWith("checkout") ? optional.of("renamed") : optional.none()' },
        map: { properties: 'event == "FlagValue" ? optional.of({"flag": flagKey}) : optional.none()' }
      },
      segment
    )
    expect(kept(t.apply(structuredClone(flag)))).toMatchObject({ event: { flagKey: "renamed" }, fields: { properties: { flag: "renamed" } } })
    expect(kept(t.apply(structuredClone({ ...flag, flagKey: "search" })))).toMatchObject({ event: { flagKey: "search" }, fields: { properties: { flag: "search" } } })
    const forMetric = kept(t.apply(structuredClone(metric)))
    expect(forMetric.fields).toEqual({})
    expect(forMetric.event).toEqual(metric)
  })

  it("dead-letters an event its map fails on, with the expression", () => {
    const outcome = built({ map: { event: "properties.campaign" } }, segment).apply(flag)
    expect(outcome).toEqual({
      _tag: "Failed",
      reason: "sink.map.event: No such key: campaign in this event; guard it with has(...) or take a default with .?key.orValue(...) (expression: properties.campaign)"
    })
  })
})

describe("what expressions cannot reach", () => {
  // CEL has no loops, no I/O and no host objects: each of these is refused when the file loads, or fails for
  // the event without reaching anything.
  it.each([
    ["the process", "process.env"],
    ["a module", 'require("fs")'],
    ["the file system", 'readFile("/etc/passwd")'],
    ["the network", 'fetch("http://127.0.0.1:1/")'],
    ["globals", "globalThis"],
    ["a constructor", "flagKey.constructor"]
  ])("%s: refused when it compiles", (_, source) => {
    const found = issues({ set: { "properties.x": source } })
    expect(found).toHaveLength(1)
    expect(found[0]!.message).toMatch(/Unknown variable|no matching overload|no such overload|Cannot index type/)
  })

  it.each([
    ["a prototype", 'properties["__proto__"]'],
    ["an object's constructor", "properties.constructor"],
    ["a prototype's prototype", "properties.__proto__.polluted"]
  ])("%s: fails for the event and reaches nothing", (_, source) => {
    const outcome = built({ set: { "properties.x": source } }).apply(flag)
    expect(outcome._tag).toBe("Failed")
    expect((outcome as { reason: string }).reason).toMatch(/No such key/)
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined()
  })
})

describe("load-time mistakes", () => {
  it("reports each with the character inside its expression", () => {
    const found = issues({ filter: 'event == "FlagValue" && flagKey.startsWith(1)', set: { "properties.x": "flagKey +" } }, noSink.fields)
    expect(found).toEqual([
      { path: ["filter"], message: "found no matching overload for 'string.startsWith(int)'", offset: 24 },
      { path: ["transform", "set", "properties.x"], message: "Unexpected token: EOF", offset: 9 }
    ])
  })

  it("says numbers are doubles when an expression adds an int to one (known only when it runs: properties are dyn)", () => {
    expect(built({ set: { "properties.more": "properties.amount + 1" } }).apply(flag)).toEqual({
      _tag: "Failed",
      reason:
        "transform.set.properties.more: no such overload: dyn<double> + int (FeatBit's numbers are doubles in CEL: write 1.0, not 1, or convert with double()) (expression: properties.amount + 1)"
    })
    expect(issues({ set: { more: "numericValue + 1" } })[0]!.message).toBe(
      "no such overload: double + int (FeatBit's numbers are doubles in CEL: write 1.0, not 1, or convert with double())"
    )
  })
})
