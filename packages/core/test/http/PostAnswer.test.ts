import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { afterEach, describe, expect, it } from "vitest"
import type { SinkError } from "../../src/Errors.js"
import { answerSecretForms } from "../../src/http/AnswerExcerpt.js"
import { postForAnswer } from "../../src/http/PostAnswer.js"

const SECRET = "s3cret-password-long"
const servers: Array<http.Server> = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

const serve = async (handler: http.RequestListener): Promise<string> => {
  const server = http.createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`
}

const targetOf = (target: string, timeout = Duration.seconds(5)) => ({
  plugin: "test",
  target,
  url: target,
  timeout,
  forms: answerSecretForms([SECRET])
})

const failure = (result: Either.Either<unknown, SinkError>): SinkError => {
  if (Either.isRight(result)) throw new Error("expected a failure")
  return result.left
}

describe("postForAnswer", () => {
  it("posts the headers and body given and reads status, Retry-After and the whole body", async () => {
    let got: { method: string | undefined; type: string | undefined; body: string } = { method: undefined, type: undefined, body: "" }
    const target = await serve((req, res) => {
      let body = ""
      req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")))
      req.on("end", () => {
        got = { method: req.method, type: req.headers["content-type"], body }
        res.writeHead(429, { "retry-after": "3" }).end("slow down")
      })
    })
    const answer = await Effect.runPromise(postForAnswer(targetOf(target), async () => ({ headers: { "content-type": "application/json" }, body: "[1]" })))
    expect(answer).toEqual({ status: 429, retryAfter: "3", text: "slow down" })
    expect(got).toEqual({ method: "POST", type: "application/json", body: "[1]" })
  })

  it("a request not answered in time fails transient, naming the setting", async () => {
    const target = await serve(() => {})
    const error = failure(await Effect.runPromise(Effect.either(postForAnswer(targetOf(target, Duration.millis(100)), () => ({ headers: {}, body: "" })))))
    expect(error.retryable).toBe(true)
    expect(error.message).toBe(`${target} did not answer within 100ms (sink.requestTimeout)`)
  })

  it("a failed request fails transient without quoting a secret", async () => {
    const target = await serve((req) => req.socket.destroy())
    const error = failure(await Effect.runPromise(Effect.either(postForAnswer(targetOf(target), () => ({ headers: {}, body: "" })))))
    expect(error.retryable).toBe(true)
    expect(error.message).toContain(`the request to ${target} failed: `)
    const thrown = failure(
      await Effect.runPromise(
        Effect.either(
          postForAnswer(targetOf(target), () => {
            throw new Error(`cannot encode for ${SECRET}`)
          })
        )
      )
    )
    expect(thrown.message).toBe(`the request to ${target} failed: cannot encode for [redacted]`)
  })
})
