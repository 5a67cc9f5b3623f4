import { type ExportEvent, SinkError } from "@featbit-export/core"
import { AzureBlobSink } from "@featbit-export/sink-azure-blob"
import { DuckDBInstance } from "@duckdb/node-api"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { gunzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ACCOUNT, ACCOUNT_KEY, type Azurite, connectionStringFor, freshContainer, objectsIn, openSink, run, sampleEvents, startAzurite, startFaultProxy } from "./support.js"

let azurite: Azurite
const folder = fs.mkdtempSync(path.join(os.tmpdir(), "featbit-export-azure-read-"))
beforeAll(async () => {
  azurite = await startAzurite()
})
afterAll(async () => {
  await azurite.stop()
  fs.rmSync(folder, { recursive: true, force: true })
})

/** The ids DuckDB reads from a Parquet object. */
const parquetIds = async (body: Buffer): Promise<Array<string>> => {
  const file = path.join(folder, `${randomBytes(6).toString("hex")}.parquet`)
  fs.writeFileSync(file, body)
  const db = await DuckDBInstance.create(":memory:")
  const connection = await db.connect()
  try {
    return (await connection.runAndReadAll(`SELECT id FROM read_parquet('${file}')`)).getRowObjectsJson().map((row) => String(row["id"]))
  } finally {
    connection.closeSync()
    db.closeSync()
  }
}

describe("sink-azure-blob writes", () => {
  it("writes each environment and date as one Parquet object; a replayed batch finds its objects and changes none", async () => {
    const container = await freshContainer(azurite)
    const events = sampleEvents(20_000, 61)
    const config = { connectionString: azurite.connectionString, container, prefix: "featbit/events" }
    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events, sequence: 0 })))
    const first = await objectsIn(azurite, container)
    const pairs = new Set(events.map((event) => `env_id=${event.envId}/date=${event.timestamp.slice(0, 10)}/`))
    expect(first.size).toBe(pairs.size)
    const envOf = new Map(events.map((event) => [event.id, event.envId]))
    const ids: Array<string> = []
    for (const [key, body] of first) {
      expect(key).toMatch(/^featbit\/events\/env_id=[^/]+\/date=\d{4}-\d{2}-\d{2}\/\d{8}T\d{12}Z-\d{8}T\d{12}Z-[0-9a-f]{16}\.parquet$/)
      expect(body.subarray(0, 4).toString()).toBe("PAR1")
      const inObject = await parquetIds(body)
      const [envPart] = key.split("/date=")
      expect(new Set(inObject.map((id) => envOf.get(id)))).toEqual(new Set([decodeURIComponent(envPart!.split("env_id=")[1]!)]))
      ids.push(...inObject)
    }
    expect(ids.sort()).toEqual(events.map((event) => event.id).sort())

    // A retry, or a replay after a restart: the same events, in another order.
    await run(Effect.flatMap(openSink(config), (sink) => sink.write({ events: [...events].reverse(), sequence: 0 })))
    const again = await objectsIn(azurite, container)
    expect([...again.keys()].sort()).toEqual([...first.keys()].sort())
    for (const [key, body] of again) expect(body.equals(first.get(key)!)).toBe(true)
  })

  it("stages an object larger than one upload as blocks committed by one block list, holding every line", async () => {
    const container = await freshContainer(azurite)
    const proxy = await startFaultProxy(azurite.url)
    try {
      // Incompressible properties: about 12 MiB of gzipped NDJSON in one object.
      const events = sampleEvents(40, 62).map((event) => ({ ...event, envId: "env-big", properties: { blob: randomBytes(220_000).toString("base64") } })) as Array<ExportEvent>
      const sameDay = events.map((event, i) => ({ ...event, timestamp: events[0]!.timestamp.slice(0, 11) + String(i).padStart(2, "0") + events[0]!.timestamp.slice(13) })) as Array<ExportEvent>
      await run(Effect.flatMap(openSink({ connectionString: connectionStringFor(proxy.url), container, format: "ndjson" }), (sink) => sink.write({ events: sameDay, sequence: 0 })))
      const objects = await objectsIn(azurite, container)
      expect(objects.size).toBe(1)
      const [body] = [...objects.values()]
      expect(body!.length).toBeGreaterThan(8 * 1024 * 1024)
      const lines = gunzipSync(body!).toString("utf8").trimEnd().split("\n")
      expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(sameDay.map((event) => event.id))
      const puts = proxy.seen.filter((request) => request.method === "PUT")
      expect(puts.filter((request) => request.url.includes("comp=block&")).length).toBeGreaterThanOrEqual(3)
      expect(puts.filter((request) => request.url.includes("comp=blocklist")).length).toBe(1)
    } finally {
      await proxy.close()
    }
  })

  it("says what to fix for a wrong key or a missing container, without the key in any encoding", async () => {
    const container = await freshContainer(azurite)
    const wrongKey = Buffer.from("not the account key of this storage account").toString("base64")
    const denied = await run(Effect.either(Effect.flatMap(openSink({ connectionString: connectionStringFor(azurite.url, wrongKey), container }), (sink) => sink.write({ events: sampleEvents(10, 63), sequence: 0 }))))
    expect(Either.isLeft(denied)).toBe(true)
    const error = Either.isLeft(denied) ? denied.left : undefined
    expect(error).toBeInstanceOf(SinkError)
    expect(error!.retryable).toBe(false)
    expect(error!.message).toMatch(/refused the credentials .* check connectionString, accountKey or sasToken/)
    for (const form of [wrongKey, encodeURIComponent(wrongKey), Buffer.from(wrongKey).toString("base64")]) expect(error!.message).not.toContain(form)

    const missing = await run(Effect.either(Effect.flatMap(openSink({ connectionString: azurite.connectionString, container: "no-such-container" }), (sink) => sink.check!)))
    expect(Either.isLeft(missing) && [missing.left.retryable, missing.left.message]).toEqual([
      false,
      expect.stringMatching(/container no-such-container does not exist; create it \(az storage container create --name no-such-container\) or fix container/)
    ])
  })

  it("signs with accountKey for the account an emulator's accountUrl names in its path", async () => {
    const container = await freshContainer(azurite)
    const events = sampleEvents(100, 64)
    await run(Effect.flatMap(openSink({ accountUrl: `${azurite.url}/${ACCOUNT}`, accountKey: ACCOUNT_KEY, container }), (sink) => sink.write({ events, sequence: 0 })))
    expect((await objectsIn(azurite, container)).size).toBeGreaterThan(0)
  })

  it("check confirms the container and a write and delete of a probe, leaving nothing behind", async () => {
    const container = await freshContainer(azurite)
    const said = await run(Effect.flatMap(openSink({ connectionString: azurite.connectionString, container, prefix: "landing" }), (sink) => sink.check!))
    expect(said[0]).toMatch(new RegExp(`container ${container} exists`))
    expect(said[1]).toMatch(/wrote and deleted a probe object under landing\//)
    expect((await objectsIn(azurite, container)).size).toBe(0)
  })

  it("refuses a file with no credentials, or two kinds of them, before anything runs", () => {
    const issues = (config: Record<string, unknown>) => AzureBlobSink.configIssues!(Schema.decodeUnknownSync(AzureBlobSink.config)(config))
    expect(issues({ container: "landing" })[0]!.message).toMatch(/exactly one of connectionString, accountKey/)
    expect(issues({ container: "landing", connectionString: "x", sasToken: "sv=1&sig=2" })[0]!.message).toMatch(/exactly one/)
    expect(issues({ container: "landing", accountKey: "k" })[0]!.message).toMatch(/need accountUrl/)
    expect(issues({ container: "landing", accountUrl: "https://acct.blob.core.windows.net", sasToken: "sv=1&sig=2" })).toEqual([])
    expect(Either.isLeft(Schema.decodeUnknownEither(AzureBlobSink.config)({ container: "Bad_Name", connectionString: "x" }))).toBe(true)
  })
})
