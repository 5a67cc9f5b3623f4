// Azurite, Microsoft's Azure Storage emulator (from npm), as a child process per test file, and a proxy in
// front of it that can answer with faults (Azurite has no fault injection).
import { type ExportEvent, Timestamp, decodeFeatBitRow, type Sink, type SinkError } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import { AzureBlobSink } from "@featbit-export/sink-azure-blob"
import { BlobServiceClient } from "@azure/storage-blob"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

/** Azurite's well-known development account (public, in its README). */
export const ACCOUNT = "devstoreaccount1"
export const ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

export const connectionStringFor = (blobEndpoint: string, key = ACCOUNT_KEY) =>
  `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${key};BlobEndpoint=${blobEndpoint}/${ACCOUNT};`

export interface Azurite {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly connectionString: string
  readonly service: BlobServiceClient
  readonly stop: () => Promise<void>
}

export const startAzurite = async (): Promise<Azurite> => {
  const main = path.join(path.dirname(createRequire(import.meta.url).resolve("azurite/package.json")), "dist", "src", "blob", "main.js")
  const location = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-azurite-"))
  const child: ChildProcess = spawn(
    process.execPath,
    [main, "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", location, "--loose", "--skipApiVersionCheck", "--disableTelemetry"],
    { stdio: ["ignore", "pipe", "pipe"] }
  )
  let output = ""
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Azurite did not start in 30s:\n${output}`)), 30_000)
    const read = (chunk: Buffer) => {
      output += chunk.toString()
      const found = /successfully listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (found) {
        clearTimeout(timer)
        resolve(found[1]!)
      }
    }
    child.stdout!.on("data", read)
    child.stderr!.on("data", read)
    child.on("exit", (code) => reject(new Error(`Azurite exited (${code}):\n${output}`)))
  })
  const connectionString = connectionStringFor(url)
  return {
    url,
    connectionString,
    service: BlobServiceClient.fromConnectionString(connectionString),
    stop: async () => {
      child.kill("SIGTERM")
      await new Promise((resolve) => child.once("close", resolve))
      fs.rmSync(location, { recursive: true, force: true })
    }
  }
}

let containers = 0
/** A new, empty container. */
export const freshContainer = async (azurite: Azurite): Promise<string> => {
  const name = `t${process.pid}-${Date.now().toString(36)}-${containers++}`
  await azurite.service.getContainerClient(name).create()
  return name
}

/** Every object in a container, with its bytes. */
export const objectsIn = async (azurite: Azurite, container: string): Promise<Map<string, Buffer>> => {
  const client = azurite.service.getContainerClient(container)
  const found = new Map<string, Buffer>()
  for await (const blob of client.listBlobsFlat()) found.set(blob.name, await client.getBlobClient(blob.name).downloadToBuffer())
  return found
}

/** A fault the proxy plays on the next `count` requests matching `method` (and `url` part). */
export interface Fault {
  readonly method?: string
  readonly urlIncludes?: string
  /** How many matching requests fail: in all, or (`perUrl`) of each URL, as when a busy server refuses every try of a write a few times. */
  readonly count: number
  readonly perUrl?: boolean
  readonly answer: { readonly status: number; readonly code: string } | "reset"
}

/** A proxy in front of Azurite: passes requests through, or answers the scripted faults instead. */
export const startFaultProxy = async (target: string) => {
  const faults: Array<Fault & { left: number; byUrl: Map<string, number> }> = []
  const seen: Array<{ method: string; url: string; faulted: boolean }> = []
  const server = http.createServer((request, response) => {
    const url = request.url!.split("?")[0]!
    const fault = faults.find(
      (f) =>
        (f.perUrl === true ? (f.byUrl.get(url) ?? f.count) > 0 : f.left > 0) &&
        (f.method === undefined || f.method === request.method) &&
        (f.urlIncludes === undefined || request.url!.includes(f.urlIncludes))
    )
    seen.push({ method: request.method!, url: request.url!, faulted: fault !== undefined })
    if (fault !== undefined) {
      fault.left -= 1
      fault.byUrl.set(url, (fault.byUrl.get(url) ?? fault.count) - 1)
      request.resume()
      if (fault.answer === "reset") return void request.socket.destroy()
      const { status, code } = fault.answer
      response.writeHead(status, { "content-type": "application/xml", "x-ms-error-code": code })
      return void response.end(`<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>injected ${code}</Message></Error>`)
    }
    const upstream = http.request(`${target}${request.url}`, { method: request.method, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode!, answer.headers)
      answer.pipe(response)
    })
    upstream.on("error", () => request.socket.destroy())
    request.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${address.port}`,
    fault: (fault: Fault) => void faults.push({ ...fault, left: fault.count, byUrl: new Map() }),
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

/** Production-shaped events from an hour ago. */
export const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed, start: Timestamp.fromMillis(Date.now() - 3_600_000) })].flatMap((row) =>
    Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (event) => [event] })
  )

export const openSink = (config: Record<string, unknown>): Effect.Effect<Sink, SinkError, Scope.Scope> =>
  Effect.flatMap(Effect.orDie(Schema.decodeUnknown(AzureBlobSink.config)(config)), (decoded) => AzureBlobSink.make(decoded, { pipeline: "test", baseDir: process.cwd() }))

export const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Effect.scoped(effect))
