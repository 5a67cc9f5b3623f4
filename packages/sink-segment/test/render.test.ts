import { describe, expect, it } from "vitest"
import { identifyMessageId, render } from "../src/index.js"
import { decodeConfig, flagEvent, metricEvent } from "./support.js"

const defaults = decodeConfig({})

describe("render", () => {
  it("maps a flag evaluation to a track named by flagEventName, with flag, variation and env", () => {
    const out = render({ ...defaults, identify: false })(flagEvent())
    expect(out).toEqual([
      {
        type: "track",
        messageId: "0b7a3c1e-0000-4000-8000-000000000001",
        userId: "user-1",
        event: "Feature Flag Evaluated",
        properties: {
          flagKey: "new-checkout",
          flagId: "flag-id-1",
          variationId: "var-b",
          sendToExperiment: false,
          envId: "env-1",
          accountId: "acc",
          projectId: "proj",
          route: "/home"
        },
        timestamp: "2024-03-05T10:11:12.123456Z",
        context: { library: { name: "featbit-export", version: expect.stringMatching(/^\d+\.\d+\.\d+/) } }
      }
    ])
    expect(Date.parse(out[0]!.timestamp)).toBe(Date.UTC(2024, 2, 5, 10, 11, 12, 123))
  })

  it("uses a configured event name, and keeps unicode names intact", () => {
    const [track] = render({ ...defaults, identify: false, flagEventName: "Флаг оценён ✓" })(flagEvent({ flagKey: "結帳-新" }))
    expect(track!.event).toBe("Флаг оценён ✓")
    expect(track!.properties!["flagKey"]).toBe("結帳-新")
    const [metric] = render({ ...defaults, identify: false })(metricEvent({ eventName: "achat réussi 🛒" }))
    expect(metric!.event).toBe("achat réussi 🛒")
  })

  it("sends Segment's Experiment Viewed spec for experiment exposures only when asked", () => {
    const exposure = flagEvent({ sendToExperiment: true, properties: { variationValue: "blue" } })
    const [viewed] = render({ ...defaults, identify: false, experimentViewed: true })(exposure)
    expect(viewed!.event).toBe("Experiment Viewed")
    expect(viewed!.properties).toMatchObject({
      experiment_id: "new-checkout",
      experiment_name: "new-checkout",
      variation_id: "var-b",
      variation_name: "blue",
      sendToExperiment: true
    })
    // Not an exposure: the ordinary event, even with experimentViewed on.
    const [plain] = render({ ...defaults, identify: false, experimentViewed: true })(flagEvent({ sendToExperiment: false }))
    expect(plain!.event).toBe("Feature Flag Evaluated")
    // An exposure without experimentViewed: the ordinary event.
    const [off] = render({ ...defaults, identify: false })(exposure)
    expect(off!.event).toBe("Feature Flag Evaluated")
    expect(off!.properties).not.toHaveProperty("experiment_id")
  })

  it("carries the enriched flag name, variation name and typed value (enrich:), and names the experiment by them", () => {
    const enriched = flagEvent({ sendToExperiment: true, flagName: "New checkout", variationName: "Blue button", variationValue: { color: "blue" } })
    const [plain] = render({ ...defaults, identify: false })(enriched)
    expect(plain!.properties).toMatchObject({ flagKey: "new-checkout", flagName: "New checkout", variationName: "Blue button", variationValue: { color: "blue" } })
    const [viewed] = render({ ...defaults, identify: false, experimentViewed: true })(enriched)
    expect(viewed!.properties).toMatchObject({ experiment_id: "new-checkout", experiment_name: "New checkout", variation_id: "var-b", variation_name: "Blue button" })
    // Without enrichment, none of the three keys appear.
    const [bare] = render({ ...defaults, identify: false })(flagEvent({}))
    expect(Object.keys(bare!.properties as object)).not.toEqual(expect.arrayContaining(["flagName"]))
    expect(bare!.properties).not.toHaveProperty("variationName")
  })

  it("maps a metric event to a track named by eventName with value and type", () => {
    const [track] = render({ ...defaults, identify: false })(metricEvent({ event: "PageView", eventName: "/pricing", numericValue: 3 }))
    expect(track).toMatchObject({
      type: "track",
      event: "/pricing",
      userId: "user-1",
      messageId: "0b7a3c1e-0000-4000-8000-000000000002",
      properties: { value: 3, type: "PageView", envId: "env-1" }
    })
  })

  it("precedes the track with an identify carrying the user's name, with a deterministic short messageId", () => {
    const out = render(defaults)(metricEvent({ user: { keyId: "user-9", name: "Grace Hopper" } }))
    expect(out.map((m) => m.type)).toEqual(["identify", "track"])
    expect(out[0]).toMatchObject({ userId: "user-9", traits: { name: "Grace Hopper" } })
    const id = out[0]!.messageId
    expect(id.length).toBeLessThan(100)
    expect(identifyMessageId("env-1", "user-9")).toBe(id)
    expect(identifyMessageId("env-2", "user-9")).not.toBe(id)
    expect(identifyMessageId("env-1", "user-10")).not.toBe(id)
  })

  it("falls back to anonymousId when the event has no user key", () => {
    const out = render(defaults)(flagEvent({ user: { keyId: "", name: "" }, distinctId: "device-7" }))
    expect(out).toHaveLength(1)
    expect(out[0]).toMatchObject({ anonymousId: "device-7" })
    expect(out[0]).not.toHaveProperty("userId")
  })

  it("resolves the endpoint shortcuts", async () => {
    const { resolveEndpoint } = await import("../src/index.js")
    expect(resolveEndpoint("us")).toBe("https://api.segment.io")
    expect(resolveEndpoint("eu")).toBe("https://events.eu1.segmentapis.com")
    expect(resolveEndpoint("http://127.0.0.1:9/")).toBe("http://127.0.0.1:9")
    expect(decodeConfig({}).endpoint).toBe("us")
    expect(() => decodeConfig({ maxEventsPerRequest: 2501 })).toThrow()
    expect(() => decodeConfig({ maxBytesPerRequest: 600_000 })).toThrow()
  })
})
