import { type Target, classify } from "@featbit-export/sink-azure-blob"
import { BlobServiceClient } from "@azure/storage-blob"
import * as http from "node:http"
import { describe, expect, it } from "vitest"
import { connectionStringFor } from "./support.js"

const target: Target = { where: "http://127.0.0.1/devstoreaccount1/landing", container: "landing", secrets: [] }

/** What the SDK throws for one upload to `url`, the sink's way (no retries of its own). */
const uploadError = async (url: string, options: { readonly abortSignal?: AbortSignal } = {}): Promise<unknown> => {
  const container = BlobServiceClient.fromConnectionString(connectionStringFor(url), { retryOptions: { maxTries: 1 } }).getContainerClient("landing")
  return container
    .getBlockBlobClient("probe.txt")
    .uploadData(Buffer.from("x"), { conditions: { ifNoneMatch: "*" }, ...options })
    .then(
      () => expect.unreachable("the upload succeeded"),
      (error: unknown) => error
    )
}

/** A server that answers every request with this status and storage error code, as the service does. */
const answering = async <A>(status: number, code: string, use: (url: string) => Promise<A>): Promise<A> => {
  const server = http.createServer((request, response) => {
    request.resume()
    response.writeHead(status, { "content-type": "application/xml", "x-ms-error-code": code })
    response.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>answered ${code}</Message></Error>`)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  try {
    return await use(`http://127.0.0.1:${(server.address() as { port: number }).port}`)
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** A local port nothing listens on: one just given up by a server. */
const closedPort = async (): Promise<number> => {
  const server = http.createServer()
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe("classify", () => {
  it("retries a connection refused: the SDK's RestError without a status, code ECONNREFUSED", async () => {
    const error = await uploadError(`http://127.0.0.1:${await closedPort()}`)
    expect(error).toMatchObject({ name: "RestError", code: "ECONNREFUSED", statusCode: undefined })
    const classified = classify(error, target, "uploading probe.txt")
    expect([classified.retryable, classified.message]).toEqual([true, expect.stringMatching(/failed while uploading probe\.txt \(no answer ECONNREFUSED/)])
  })

  it("retries an upload the server did not answer before requestTimeout's signal (the SDK's AbortError)", async () => {
    const silent = http.createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    try {
      const error = await uploadError(`http://127.0.0.1:${(silent.address() as { port: number }).port}`, { abortSignal: AbortSignal.timeout(200) })
      expect(error).toMatchObject({ name: "AbortError" })
      expect(classify(error, target, "uploading probe.txt")).toMatchObject({ retryable: true, message: expect.stringMatching(/did not answer in time/) })
    } finally {
      silent.closeAllConnections()
      await new Promise<void>((resolve) => silent.close(() => resolve()))
    }
  })

  it("fails a programming error (a TypeError, no status) as unexpected, not retried forever", () => {
    const classified = classify(new TypeError("Cannot read properties of undefined (reading 'length')"), target, "uploading probe.txt")
    expect(classified.retryable).toBe(false)
    expect(classified.message).toMatch(/unexpected .*TypeError: Cannot read properties of undefined.*report it/)
  })

  it("retries 503 ServerBusy, and fails 403 with what to check", async () => {
    const busy = classify(await answering(503, "ServerBusy", uploadError), target, "uploading probe.txt")
    expect([busy.retryable, busy.message]).toEqual([true, expect.stringMatching(/503 ServerBusy/)])
    const denied = classify(await answering(403, "AuthenticationFailed", uploadError), target, "uploading probe.txt")
    expect([denied.retryable, denied.message]).toEqual([false, expect.stringMatching(/refused the credentials .*AuthenticationFailed.* check connectionString, accountKey or sasToken/)])
  })
})
