import { Secrets } from "@featbit-export/core"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { MIXPANEL_MAPPABLE, MixpanelSink, MixpanelSinkConfig, REGION_ENDPOINTS, configIssues, resolveEndpoint } from "../src/index.js"
import { SA_SECRET, decodeConfig, flagEvent, metricEvent } from "./support.js"

describe("mixpanel sink: render (preview)", () => {
  const config = decodeConfig({})
  const preview = MixpanelSink.render!(config)

  it("shows the /import record of an event", () => {
    expect(preview(metricEvent())).toEqual([
      {
        event: "purchase",
        properties: {
          time: 1709633472123,
          distinct_id: "user-1",
          $insert_id: "0b7a3c1e000040008000000000000002",
          ip: "0",
          featbitId: "0b7a3c1e-0000-4000-8000-000000000002",
          value: 42.5,
          type: "CustomEvent",
          applicationType: "Javascript",
          envId: "env-1",
          accountId: "acc",
          projectId: "proj",
          route: "/home"
        }
      }
    ])
  })

  it("applies sink.map: event, properties and distinctId replace the sink's, time and $insert_id stay the sink's", () => {
    const [record] = preview(flagEvent(), {
      event: "Flag seen",
      distinctId: "u-9",
      properties: { flag: "new-checkout", time: 1, $insert_id: "mine", distinct_id: "other" }
    }) as ReadonlyArray<{ event: string; properties: Record<string, unknown> }>
    expect(record).toEqual({
      event: "Flag seen",
      properties: { flag: "new-checkout", time: 1709633472123, $insert_id: "0b7a3c1e000040008000000000000001", distinct_id: "u-9", ip: "0" }
    })
  })

  it("names experiment exposures $experiment_started, or every evaluation when flagEventName says so; geolocate drops ip", () => {
    const exposure = flagEvent({ sendToExperiment: true, variationValue: "green" })
    expect(preview(exposure)).toMatchObject([{ event: "$experiment_started", properties: { "Experiment name": "new-checkout", "Variant name": "green" } }])
    const off = MixpanelSink.render!(decodeConfig({ experimentStarted: false }))(exposure) as ReadonlyArray<{ event: string; properties: object }>
    expect(off[0]!.event).toBe("Feature Flag Evaluated")
    expect(off[0]!.properties).not.toHaveProperty("Experiment name")
    const all = MixpanelSink.render!(decodeConfig({ flagEventName: "$experiment_started", geolocate: true }))(flagEvent())
    expect(all).toMatchObject([{ event: "$experiment_started", properties: { "Experiment name": "new-checkout", "Variant name": "var-b" } }])
    expect((all as ReadonlyArray<{ properties: object }>)[0]!.properties).not.toHaveProperty("ip")
  })

  it("declares its mappable fields", () => {
    expect(MixpanelSink.mappable).toBe(MIXPANEL_MAPPABLE)
    expect(Object.fromEntries(Object.entries(MIXPANEL_MAPPABLE).map(([k, v]) => [k, v.type]))).toEqual({ event: "string", properties: "map", distinctId: "string" })
  })
})

describe("mixpanel sink: config", () => {
  const issues = (input: Record<string, unknown>) => configIssues(Schema.decodeUnknownSync(MixpanelSinkConfig)(input))
  const account = { username: "sa.user", secret: SA_SECRET }

  it("takes a service account with projectId, or a project secret", () => {
    expect(issues({ serviceAccount: account, projectId: "1" })).toEqual([])
    expect(issues({ projectSecret: "tok_0123456789" })).toEqual([])
    expect(issues({ projectSecret: "tok_0123456789", projectId: "1", endpoint: "https://mixpanel-proxy.example:8443/" })).toEqual([])
  })

  it("wants exactly one kind of credentials, a projectId with a service account, a region or a base URL", () => {
    expect(issues({})).toEqual([{ path: [], message: "Mixpanel needs credentials: give serviceAccount (username, secret, with projectId) or projectSecret" }])
    expect(issues({ serviceAccount: account, projectId: "1", projectSecret: "tok_0123456789" })).toEqual([
      { path: ["projectSecret"], message: "give serviceAccount or projectSecret, not both: remove one of them" }
    ])
    expect(issues({ serviceAccount: account })).toEqual([
      { path: ["projectId"], message: "a service account authenticates only with a project: set projectId to the Mixpanel project id" }
    ])
    expect(issues({ projectSecret: "tok_0123456789", endpoint: "apac" })[0]!.path).toEqual(["endpoint"])
    expect(issues({ projectSecret: "tok_0123456789", endpoint: "ftp://x" })[0]!.message).toContain("not ftp://")
    const withCredentials = issues({ projectSecret: "tok_0123456789", endpoint: "https://u:hunter2hunter2@proxy.example" })
    expect(withCredentials[0]!.message).toContain("remove the user and password")
    expect(withCredentials[0]!.message).not.toContain("hunter2hunter2")
    expect(issues({ projectSecret: "tok_0123456789", endpoint: "https://proxy.example/?x=1" })[0]!.message).toContain("remove its ?query")
  })

  it("keeps secrets redacted and documents its defaults", () => {
    const config = decodeConfig({})
    expect(String(config.serviceAccount!.secret)).not.toContain(SA_SECRET)
    expect(Secrets.collect(config).secrets.map((s) => s.value)).toContain(SA_SECRET)
    expect(config).toMatchObject({ endpoint: "us", maxEventsPerRequest: 2_000, maxBytesPerRequest: 2_000_000, concurrency: 4, gzip: true, experimentStarted: true, geolocate: false })
    expect(() => decodeConfig({ maxEventsPerRequest: 2_001 })).toThrow()
    expect(() => decodeConfig({ maxBytesPerRequest: 10 * 1024 * 1024 + 1 })).toThrow()
  })

  it("resolves the regions to Mixpanel's documented hosts", () => {
    expect(resolveEndpoint("us")).toBe("https://api.mixpanel.com")
    expect(resolveEndpoint("eu")).toBe("https://api-eu.mixpanel.com")
    expect(resolveEndpoint(" IN ")).toBe("https://api-in.mixpanel.com")
    expect(resolveEndpoint("")).toBe(REGION_ENDPOINTS.us)
    expect(resolveEndpoint("http://127.0.0.1:9000//")).toBe("http://127.0.0.1:9000")
  })
})
