import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { FEATURE_FLAG_CALLED, POSTHOG_MAPPABLE, PostHogSink, render, renderEvent } from "../src/index.js"
import { decodeConfig, flagEvent, metricEvent, run, setup } from "./support.js"

const config = decodeConfig({})

describe("posthog sink: mapping", () => {
  it("a flag evaluation becomes PostHog's own $feature_flag_called with $feature_flag and the variation id as response", () => {
    expect(renderEvent(config, flagEvent())).toEqual({
      event: FEATURE_FLAG_CALLED,
      distinct_id: "user-1",
      uuid: "0b7a3c1e-0000-4000-8000-000000000001",
      timestamp: "2024-03-05T10:11:12.123456Z",
      properties: {
        $feature_flag: "new-checkout",
        $feature_flag_response: "var-b",
        "$feature/new-checkout": "var-b",
        featbit_flag_id: "flag-id-1",
        featbit_variation_id: "var-b",
        featbit_send_to_experiment: false,
        featbit_env_id: "env-1",
        featbit_account_id: "acc",
        featbit_project_id: "proj",
        featbit_route: "/home",
        $geoip_disable: true,
        $lib: "featbit-export",
        $lib_version: "0.1.0",
        $set: { name: "Ada" }
      }
    })
  })

  it("uses the served value from enrichment as $feature_flag_response, and the flag and variation names", () => {
    const event = flagEvent({ variationValue: true, flagName: "New checkout", variationName: "On" })
    const { properties } = renderEvent(config, event)
    expect(properties).toMatchObject({
      $feature_flag_response: true,
      "$feature/new-checkout": true,
      featbit_variation_id: "var-b",
      featbit_flag_name: "New checkout",
      featbit_variation_name: "On"
    })
  })

  it("a metric becomes an event named by its event name, with the numeric value", () => {
    expect(renderEvent(config, metricEvent())).toMatchObject({
      event: "purchase",
      distinct_id: "user-1",
      uuid: "0b7a3c1e-0000-4000-8000-000000000002",
      properties: { value: 42.5, featbit_event_type: "CustomEvent", featbit_application_type: "Javascript", featbit_env_id: "env-1" }
    })
  })

  it("falls back to FeatBit's distinctId without a user key, and leaves $set out when personName is off or the name is empty", () => {
    expect(renderEvent(config, flagEvent({ user: { keyId: "", name: "" } })).distinct_id).toBe("d-1")
    expect(renderEvent(config, flagEvent({ user: { keyId: "u", name: "" } })).properties["$set"]).toBeUndefined()
    expect(renderEvent(decodeConfig({ personName: false }), flagEvent()).properties["$set"]).toBeUndefined()
  })

  it("the mapped fields replace the sink's own", () => {
    const preview = render(config)(flagEvent(), { event: "Flag Seen", distinct_id: "acct-9", properties: { plan: "pro" } })
    expect(preview).toEqual({ event: "Flag Seen", distinct_id: "acct-9", uuid: flagEvent().id, timestamp: "2024-03-05T10:11:12.123456Z", properties: { plan: "pro" } })
    // A value of the wrong type (a caller that skipped the transform step) counts as not mapped.
    expect(render(config)(flagEvent(), { event: 3 as unknown as string }).event).toBe(FEATURE_FLAG_CALLED)
  })

  it("the plugin declares render and the mappable fields for sink.map", () => {
    expect(Object.keys(POSTHOG_MAPPABLE)).toEqual(["event", "distinct_id", "properties"])
    expect(PostHogSink.mappable).toBe(POSTHOG_MAPPABLE)
    expect(POSTHOG_MAPPABLE.properties.type).toBe("map")
    expect(PostHogSink.render!(config)(metricEvent())).toEqual(renderEvent(config, metricEvent()))
  })

  it("what preview shows is what is sent", async () => {
    await run(
      Effect.gen(function* () {
        const { receiver, sink } = yield* setup()
        const fields = { distinct_id: "acct-9" }
        yield* sink.write({ events: [flagEvent({ variationValue: "blue" })], sequence: 0, fields: () => fields })
        expect(receiver.rows[0]!.raw).toEqual(render(config)(flagEvent({ variationValue: "blue" }), fields))
      })
    )
  })
})
