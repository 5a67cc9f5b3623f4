import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { ExportEvent, type FlagValueEvent, type MetricEvent } from "../src/Event.js"
import { type FeatBitRow, decodeFeatBitRow, type Rejection } from "../src/FeatBitRow.js"
import type { Timestamp } from "../src/Timestamp.js"

// The example rows of featbit-data.md section 2 (values from FeatBit's docs curl example), with the
// elided GUIDs written out.
const envId = "32f6be54-6796-44dd-bc82-f4824b0da13c"
const flagId = `${envId}-growthbook-test-001`
const variationId = "7e03db60-7605-4428-a972-aa3b66a3f898"

const flagValueProperties = {
  route: "/Variation/GetMultiOptionVariation",
  flagId,
  envId,
  accountId: "",
  projectId: "",
  featureFlagKey: "growthbook-test-001",
  sendToExperiment: true,
  userKeyId: "tester-id-6973",
  userName: "tester-6973",
  variationId,
  tag_0: "tester-id-6973",
  tag_1: variationId,
  tag_2: "true",
  tag_3: "tester-6973"
}

const customEventProperties = {
  route: "index/metric",
  type: "CustomEvent",
  eventName: "checkout-completed",
  numericValue: 1,
  user: { keyId: "tester-id-6973", name: "tester-6973" },
  applicationType: "dotnet-server-side",
  projectId: "",
  envId,
  accountId: "",
  tag_0: "tester-id-6973",
  tag_1: "1",
  tag_2: "tester-6973"
}

/** A ClickHouse row: properties is the JSON string FeatBit wrote. */
const clickHouseFlagValue: FeatBitRow = {
  id: "4be3e7b9-3db7-4537-8e46-b2831f579bcf",
  distinctId: flagId,
  envId,
  event: "FlagValue",
  properties: JSON.stringify(flagValueProperties),
  timestamp: "2023-12-12T07:42:13.320000Z" as Timestamp,
  ingestedAt: "2023-12-12T07:42:14.000000Z" as Timestamp
}

const clickHouseCustomEvent: FeatBitRow = {
  id: "0b6c1f0e-6a43-4b8e-9a55-2f7d1c9e4a11",
  distinctId: "checkout-completed",
  envId,
  event: "CustomEvent",
  properties: JSON.stringify(customEventProperties),
  timestamp: "2023-12-12T07:45:01.123000Z" as Timestamp
}

const isExportEvent = Schema.is(ExportEvent)

const decoded = (row: FeatBitRow): ExportEvent => {
  const result = decodeFeatBitRow(row)
  if (Either.isLeft(result)) throw new Error(`expected the row to decode, got: ${result.left.reason}`)
  expect(isExportEvent(result.right)).toBe(true)
  return result.right
}

const rejected = (row: FeatBitRow): Rejection => {
  let result: Either.Either<ExportEvent, Rejection> | undefined
  expect(() => {
    result = decodeFeatBitRow(row)
  }).not.toThrow()
  if (result === undefined || Either.isRight(result)) throw new Error("expected the row to be rejected")
  expect(result.left.id).toBe(row.id)
  expect(result.left.raw).toBe(row)
  return result.left
}

const withProperties = (row: FeatBitRow, change: (properties: Record<string, unknown>) => void): FeatBitRow => {
  const properties: Record<string, unknown> = structuredClone(
    typeof row.properties === "string" ? JSON.parse(row.properties) : row.properties
  )
  change(properties)
  return { ...row, properties: typeof row.properties === "string" ? JSON.stringify(properties) : properties }
}

describe("decodeFeatBitRow: ClickHouse rows (properties as a JSON string)", () => {
  it("decodes the FlagValue example row", () => {
    const event = decoded(clickHouseFlagValue) as FlagValueEvent
    expect(event).toEqual({
      event: "FlagValue",
      id: "4be3e7b9-3db7-4537-8e46-b2831f579bcf",
      envId,
      distinctId: flagId,
      timestamp: "2023-12-12T07:42:13.320000Z",
      ingestedAt: "2023-12-12T07:42:14.000000Z",
      user: { keyId: "tester-id-6973", name: "tester-6973" },
      route: "/Variation/GetMultiOptionVariation",
      accountId: "",
      projectId: "",
      tags: { tag_0: "tester-id-6973", tag_1: variationId, tag_2: "true", tag_3: "tester-6973" },
      properties: flagValueProperties,
      flagId,
      flagKey: "growthbook-test-001",
      variationId,
      sendToExperiment: true
    })
  })

  it("decodes the CustomEvent example row", () => {
    const event = decoded(clickHouseCustomEvent) as MetricEvent
    expect(event).toEqual({
      event: "CustomEvent",
      id: "0b6c1f0e-6a43-4b8e-9a55-2f7d1c9e4a11",
      envId,
      distinctId: "checkout-completed",
      timestamp: "2023-12-12T07:45:01.123000Z",
      user: { keyId: "tester-id-6973", name: "tester-6973" },
      route: "index/metric",
      accountId: "",
      projectId: "",
      tags: { tag_0: "tester-id-6973", tag_1: "1", tag_2: "tester-6973" },
      properties: customEventProperties,
      eventName: "checkout-completed",
      numericValue: 1,
      applicationType: "dotnet-server-side"
    })
    expect(event.ingestedAt).toBeUndefined()
    expect(JSON.parse(JSON.stringify(event))).not.toHaveProperty("ingestedAt")
  })

  it("reads sendToExperiment false", () => {
    const row = withProperties(clickHouseFlagValue, (p) => {
      p["sendToExperiment"] = false
      p["tag_2"] = "false"
    })
    expect((decoded(row) as FlagValueEvent).sendToExperiment).toBe(false)
  })

  it("keeps a property it does not know (FeatBit v6's variationValue) in properties", () => {
    const row = withProperties(clickHouseFlagValue, (p) => {
      p["variationValue"] = "true"
    })
    const event = decoded(row)
    expect(event.properties["variationValue"]).toBe("true")
    expect(event.properties["featureFlagKey"]).toBe("growthbook-test-001")
  })

  it("decodes a v6-shaped FlagValue without tag_0..tag_3 (empty tags)", () => {
    const row = withProperties(clickHouseFlagValue, (p) => {
      for (const key of ["tag_0", "tag_1", "tag_2", "tag_3"]) delete p[key]
      p["variationValue"] = "blue"
    })
    const event = decoded(row) as FlagValueEvent
    expect(event.tags).toEqual({})
    expect(event.user).toEqual({ keyId: "tester-id-6973", name: "tester-6973" })
    expect(event.variationId).toBe(variationId)
  })

  it("reads a fractional numericValue", () => {
    const row = withProperties(clickHouseCustomEvent, (p) => {
      p["numericValue"] = 19.99
      p["tag_1"] = "19.99"
    })
    expect((decoded(row) as MetricEvent).numericValue).toBe(19.99)
  })
})

describe("decodeFeatBitRow: MongoDB documents (properties an embedded document)", () => {
  const mongoFlagValue: FeatBitRow = { ...clickHouseFlagValue, properties: flagValueProperties, ingestedAt: undefined }
  const mongoCustomEvent: FeatBitRow = {
    ...clickHouseCustomEvent,
    properties: customEventProperties,
    // BSON dates have millisecond precision
    timestamp: "2023-12-12T07:45:01.123000Z" as Timestamp
  }

  it("decodes a FlagValue document", () => {
    const event = decoded(mongoFlagValue) as FlagValueEvent
    expect(event.flagKey).toBe("growthbook-test-001")
    expect(event.variationId).toBe(variationId)
    expect(event.user).toEqual({ keyId: "tester-id-6973", name: "tester-6973" })
    expect(event.sendToExperiment).toBe(true)
    expect(event.properties).toEqual(flagValueProperties)
    expect(event.ingestedAt).toBeUndefined()
  })

  it("decodes a CustomEvent whose numericValue is whole (BSON Int32)", () => {
    const event = decoded(mongoCustomEvent) as MetricEvent
    expect(event.numericValue).toBe(1)
    expect(event.eventName).toBe("checkout-completed")
    expect(event.user).toEqual({ keyId: "tester-id-6973", name: "tester-6973" })
  })

  it("decodes a CustomEvent whose numericValue is fractional (BSON Double)", () => {
    const row = withProperties(mongoCustomEvent, (p) => {
      p["numericValue"] = 0.25
    })
    expect(typeof row.properties).toBe("object")
    expect((decoded(row) as MetricEvent).numericValue).toBe(0.25)
  })

  it("decodes PageView and Click metric events", () => {
    for (const kind of ["PageView", "Click"] as const) {
      const row: FeatBitRow = {
        id: `5a1d2c3b-0000-4000-8000-00000000000${kind === "Click" ? 1 : 2}`,
        distinctId: kind === "Click" ? "buy-button" : "pricing-page",
        envId,
        event: kind,
        properties: {
          ...customEventProperties,
          route: "/pricing",
          type: kind,
          eventName: kind === "Click" ? "buy-button" : "pricing-page",
          applicationType: "javascript-client-side"
        },
        timestamp: "2024-03-01T10:00:00.000000Z" as Timestamp
      }
      const event = decoded(row) as MetricEvent
      expect(event.event).toBe(kind)
      expect(event.eventName).toBe(kind === "Click" ? "buy-button" : "pricing-page")
      expect(event.route).toBe("/pricing")
      expect(event.applicationType).toBe("javascript-client-side")
      expect(event.numericValue).toBe(1)
    }
  })
})

describe("decodeFeatBitRow: rejections", () => {
  it("rejects properties that are not valid JSON", () => {
    const rejection = rejected({ ...clickHouseFlagValue, properties: '{"route":"/Variation' })
    expect(rejection.reason).toMatch(/JSON/)
  })

  it("rejects properties that are not an object", () => {
    for (const properties of ["[1,2]", "42", "null", '"text"']) {
      const rejection = rejected({ ...clickHouseFlagValue, properties })
      expect(rejection.reason, properties).toMatch(/properties/)
      expect(rejection.reason, properties).toMatch(/object/)
    }
    const nullDocument = rejected({ ...clickHouseFlagValue, properties: null as unknown as string })
    expect(nullDocument.reason).toMatch(/properties/)
  })

  it("rejects a FlagValue without featureFlagKey", () => {
    const rejection = rejected(withProperties(clickHouseFlagValue, (p) => delete p["featureFlagKey"]))
    expect(rejection.reason).toMatch(/featureFlagKey/)
  })

  it("rejects a FlagValue without a user key", () => {
    const rejection = rejected(withProperties(clickHouseFlagValue, (p) => delete p["userKeyId"]))
    expect(rejection.reason).toMatch(/userKeyId/)
  })

  it("rejects a FlagValue without variationId", () => {
    const rejection = rejected(withProperties(clickHouseFlagValue, (p) => delete p["variationId"]))
    expect(rejection.reason).toMatch(/variationId/)
  })

  it("rejects a metric event without user, or with a user without keyId", () => {
    const noUser = rejected(withProperties(clickHouseCustomEvent, (p) => delete p["user"]))
    expect(noUser.reason).toMatch(/user/)
    const noKey = rejected(withProperties(clickHouseCustomEvent, (p) => (p["user"] = { name: "tester-6973" })))
    expect(noKey.reason).toMatch(/keyId/)
    const notAnObject = rejected(withProperties(clickHouseCustomEvent, (p) => (p["user"] = "tester-id-6973")))
    expect(notAnObject.reason).toMatch(/user/)
  })

  it("rejects a metric event without eventName", () => {
    const rejection = rejected(withProperties(clickHouseCustomEvent, (p) => delete p["eventName"]))
    expect(rejection.reason).toMatch(/eventName/)
  })

  it("rejects a numericValue that is not a number", () => {
    for (const value of ["abc", true, { amount: 1 }, "", "Infinity"]) {
      const rejection = rejected(withProperties(clickHouseCustomEvent, (p) => (p["numericValue"] = value)))
      expect(rejection.reason, JSON.stringify(value)).toMatch(/numericValue/)
    }
  })

  it("rejects a numericValue that is an array (it is not a number, even when it holds one)", () => {
    for (const value of [[], [5], ["2"]]) {
      const row: FeatBitRow = { ...clickHouseCustomEvent, properties: { ...customEventProperties, numericValue: value } }
      const result = decodeFeatBitRow(row)
      expect(Either.isLeft(result), JSON.stringify(value)).toBe(true)
      if (Either.isLeft(result)) expect(result.left.reason).toMatch(/numericValue/)
    }
  })

  it("rejects a missing numericValue", () => {
    const rejection = rejected(withProperties(clickHouseCustomEvent, (p) => delete p["numericValue"]))
    expect(rejection.reason).toMatch(/numericValue/)
  })

  it("rejects an unknown event type, naming it", () => {
    const rejection = rejected({ ...clickHouseCustomEvent, event: "Purchase" })
    expect(rejection.reason).toMatch(/Purchase/)
  })

  it("rejects a row without a uuid", () => {
    const rejection = rejected({ ...clickHouseFlagValue, id: "" })
    expect(rejection.reason).toMatch(/uuid|id/)
  })

  it("rejects a known field of the wrong type", () => {
    const rejection = rejected(withProperties(clickHouseFlagValue, (p) => (p["featureFlagKey"] = 42)))
    expect(rejection.reason).toMatch(/featureFlagKey/)
  })

  const neverThrows = (properties: Record<string, unknown>) => {
    const row: FeatBitRow = { ...clickHouseCustomEvent, properties }
    let result: Either.Either<ExportEvent, Rejection> | undefined
    expect(() => {
      result = decodeFeatBitRow(row)
    }).not.toThrow()
    // Whatever the decoder decides, a decoded event must satisfy the canonical schema.
    if (result !== undefined && Either.isRight(result)) expect(isExportEvent(result.right)).toBe(true)
  }

  it("never throws on a bigint tag value (mongodb driver with useBigInt64)", () => {
    neverThrows({ ...customEventProperties, tag_1: 1n })
  })

  it("never yields an undefined tag (BSON undefined)", () => {
    neverThrows({ ...customEventProperties, tag_3: undefined })
  })

  it("never throws on bigint numbers and nested values elsewhere in properties", () => {
    neverThrows({ ...customEventProperties, numericValue: 3n })
    neverThrows({ ...customEventProperties, tag_4: { nested: true } })
    neverThrows({ ...customEventProperties, extra: 12345678901234567890n })
  })
})

describe("decodeFeatBitRow: the decoded event always satisfies ExportEvent", () => {
  it("holds for every row that decodes in a mixed sample", () => {
    const rows: Array<FeatBitRow> = [
      clickHouseFlagValue,
      clickHouseCustomEvent,
      { ...clickHouseFlagValue, properties: flagValueProperties },
      { ...clickHouseCustomEvent, properties: customEventProperties },
      withProperties(clickHouseFlagValue, (p) => delete p["flagId"]),
      withProperties(clickHouseFlagValue, (p) => delete p["userName"]),
      withProperties(clickHouseCustomEvent, (p) => (p["user"] = { keyId: "k" })),
      withProperties(clickHouseCustomEvent, (p) => delete p["applicationType"]),
      withProperties(clickHouseCustomEvent, (p) => (p["tag_9"] = 7))
    ]
    let decodedCount = 0
    for (const row of rows) {
      const result = decodeFeatBitRow(row)
      if (Either.isRight(result)) {
        decodedCount++
        expect(isExportEvent(result.right)).toBe(true)
      }
    }
    expect(decodedCount).toBe(rows.length)
  })

  it("falls back to distinct_id for flagId, which FeatBit sets to {envId}-{featureFlagKey}", () => {
    const event = decoded(withProperties(clickHouseFlagValue, (p) => delete p["flagId"])) as FlagValueEvent
    expect(event.flagId).toBe(`${envId}-growthbook-test-001`)
  })
})
