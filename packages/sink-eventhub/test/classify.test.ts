import * as Duration from "effect/Duration"
import { describe, expect, it } from "vitest"
import { classify } from "../src/index.js"

const KEY = "k3y+Secret/="
const CS = `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=${KEY};EntityPath=hub`
const target = { where: "ns.servicebus.windows.net/hub", secrets: [CS, KEY] }
const options = { serverBusyWait: Duration.seconds(4), doing: "sending events" }
const messaging = (code: string, retryable: boolean, message = `${code} happened`) =>
  Object.assign(new Error(message), { name: "MessagingError", code, retryable })

describe("classify", () => {
  it("makes busy, unavailable, timeouts and connection failures transient", () => {
    const busy = classify(messaging("ServerBusyError", true), target, options)
    expect(busy.retryable).toBe(true)
    expect(busy.retryAfter && Duration.toMillis(busy.retryAfter)).toBe(4_000)
    for (const code of ["ServiceUnavailableError", "OperationTimeoutError", "ConnectionForcedError"]) {
      const error = classify(messaging(code, true), target, options)
      expect([code, error.retryable, error.retryAfter]).toEqual([code, true, undefined])
    }
    expect(classify(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5671"), { code: "ECONNREFUSED" }), target, options).retryable).toBe(true)
  })

  it("makes credentials, quotas and unknown hubs fatal, with what to fix", () => {
    expect(classify(messaging("UnauthorizedError", true), target, options)).toMatchObject({ retryable: false, message: expect.stringContaining("sink.sasKey") })
    expect(classify(messaging("QuotaExceededError", false), target, options)).toMatchObject({ retryable: false, message: expect.stringContaining("throughput") })
    expect(classify(messaging("MessagingEntityNotFoundError", false), target, options)).toMatchObject({
      retryable: false,
      message: expect.stringContaining("sink.hub")
    })
  })

  it("classifies the last error of the SDK's AggregateError", () => {
    const aggregate = new AggregateError([messaging("ServerBusyError", true), messaging("UnauthorizedError", true)], "")
    expect(classify(aggregate, target, options).retryable).toBe(false)
    const busy = new AggregateError([messaging("UnauthorizedError", true), messaging("ServerBusyError", true)], "")
    expect(classify(busy, target, options).retryable).toBe(true)
  })

  it("scrubs the key and the connection string from quoted SDK text", () => {
    const error = classify(messaging("ServiceUnavailableError", true, `failed for ${CS} and SharedAccessSignature=sr%3Dx&sig=abc123`), target, options)
    expect(error.message).not.toContain(KEY)
    expect(error.message).not.toContain("abc123")
    expect(error.message).toContain("<redacted>")
  })
})
