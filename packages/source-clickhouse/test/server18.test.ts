// Against a real ClickHouse server: Debian's clickhouse-server (18.16), where the HTTP transport itself is
// under test. 18.16 has no query parameters (and no DateTime64): `check` must still say clearly what is
// wrong, and reading must stop with a sentence rather than retry. See the README for how to install and
// start it; without a server on 127.0.0.1:8123 (CLICKHOUSE_SERVER_URL) these tests are skipped.
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from "@clickhouse/client"
import type { Source, SourceError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { openSource } from "./support/chdb.js"
import { closedPort } from "@featbit-export/testkit"
import { readAll } from "./support/rows.js"

const SERVER = process.env["CLICKHOUSE_SERVER_URL"] ?? "http://127.0.0.1:8123"
const BINARY = "/usr/sbin/clickhouse-server"

const versionAt = async (url: string): Promise<string | undefined> => {
  try {
    const response = await fetch(`${url}/?query=SELECT%20version()`, { signal: AbortSignal.timeout(2000) })
    return response.ok ? (await response.text()).trim() : undefined
  } catch {
    return undefined
  }
}

const version = await versionAt(SERVER)
const major = version === undefined ? 0 : Number(version.split(".")[0])
const skipReason = version === undefined ? `skipped: no ClickHouse server answers on ${SERVER}` : `ClickHouse ${version}`
if (version === undefined) {
  console.warn(`server18.test.ts: ${skipReason}; install and start Debian's clickhouse-server to run these tests (see packages/source-clickhouse/README.md)`)
}

const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))
const checkFailure = (source: Effect.Effect<Source, SourceError, Scope.Scope>) => run(Effect.flip(Effect.flatMap(source, (s) => s.check!)))

describe.skipIf(version === undefined)(`a real clickhouse-server at ${SERVER} (${skipReason})`, () => {
  const database = `featbit_export_test_${process.pid}`
  let admin: ClickHouseClient

  beforeAll(async () => {
    admin = createClient({ url: SERVER, log: { level: ClickHouseLogLevel.OFF } })
    // FeatBit's columns; 18.16 has neither DateTime64 nor JSONExtractString, so second precision and no tags.
    const time = major >= 20 ? "DateTime64(6, 'UTC')" : "DateTime"
    await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` })
    await admin.command({
      query: `CREATE TABLE ${database}.events (uuid UUID, distinct_id String, env_id String, event String, properties String, timestamp ${time}, _timestamp DateTime, _offset UInt64) ENGINE = MergeTree() PARTITION BY (env_id, toYYYYMM(timestamp)) ORDER BY (env_id, toDate(timestamp), event)`
    })
    await admin.command({ query: `CREATE TABLE ${database}.partial (uuid UUID, env_id String, event String, properties String, timestamp DateTime) ENGINE = MergeTree() ORDER BY timestamp` })
  })

  afterAll(async () => {
    await admin.command({ query: `DROP DATABASE IF EXISTS ${database}` })
    await admin.close()
  })

  const source = (config: Record<string, unknown> = {}) => openSource({ url: SERVER, database, ...config })

  it("check says which database is missing, listing the ones that exist", async () => {
    const error = await checkFailure(source({ database: `${database}_missing` }))
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(new RegExp(`^the database "${database}_missing" does not exist on ${SERVER} .*; its databases: .*${database}`))
  })

  it("check says which table is missing, listing the database's tables", async () => {
    const error = await checkFailure(source({ table: "distributed_events" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`the table ${database}.distributed_events does not exist on ${SERVER}`)
    expect(error.message).toContain(`tables in ${database}: events, partial`)
  })

  it("check names the columns a table lacks", async () => {
    const error = await checkFailure(source({ table: "partial" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toContain(`the table ${database}.partial on ${SERVER} lacks the columns distinct_id, _timestamp`)
  })

  it.skipIf(major >= 22)("check confirms FeatBit's table, then says the server is too old for query parameters", async () => {
    const error = await checkFailure(source())
    expect(error.retryable).toBe(false)
    expect(error.message).toBe(
      `ClickHouse ${version} at ${SERVER} cannot bind query parameters as this source does for every read (database and table as Identifier parameters): it needs ClickHouse 22.x or newer (FeatBit ships 23.7); upgrade the server`
    )
  })

  it.skipIf(major >= 22)("reading stops with a sentence instead of retrying a query the server cannot run", async () => {
    const error = await run(Effect.flip(Effect.flatMap(source(), (s) => readAll(s, undefined, 10))))
    expect((error as SourceError).retryable).toBe(false)
    expect((error as SourceError).message).toMatch(/has no now64\(\), which this source reads the server's clock with, nor the query parameters it binds every value with: it needs ClickHouse 22\.x or newer/)
  })

  it("a wrong password is fatal, with a sentence that does not contain it", async () => {
    const error = await checkFailure(source({ password: "not-the-password-93ab" }))
    expect(error.retryable).toBe(false)
    expect(error.message).toMatch(new RegExp(`^ClickHouse at ${SERVER} refused the credentials of user "default": .*; fix the source's username and password$`))
    expect(error.message).not.toContain("not-the-password-93ab")
  })

  it("a port where no server listens is a transient error", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const error = await checkFailure(openSource({ url, database }))
    expect(error.retryable).toBe(true)
    expect(error.message).toBe(`cannot connect to ClickHouse at ${url} while connecting to ${url}: connection refused (is the server running?)`)
  })
})

// A server of our own, started and stopped by the test: what a source sees when ClickHouse goes down and
// comes back. Needs only the binary (Debian's clickhouse-server package), not a running service.
const serverConfig = (folder: string, http: number, tcp: number) => `<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <http_port>${http}</http_port>
    <tcp_port>${tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>${folder}/data/</path>
    <tmp_path>${folder}/tmp/</tmp_path>
    <user_files_path>${folder}/user_files/</user_files_path>
    <users_config>/etc/clickhouse-server/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>5368709</mark_cache_size>
</yandex>
`

const hasBinary = existsSync(BINARY) && existsSync("/etc/clickhouse-server/users.xml")

describe.skipIf(!hasBinary)(`a clickhouse-server that stops and starts again (${hasBinary ? BINARY : `skipped: ${BINARY} is not installed`})`, () => {
  let folder: string
  let child: ChildProcess | undefined
  let url: string
  let ports: { http: number; tcp: number }

  const start = async () => {
    child = spawn(BINARY, [`--config-file=${join(folder, "config.xml")}`], { stdio: "ignore" })
    for (let i = 0; i < 200; i++) {
      if ((await versionAt(url)) !== undefined) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`the test's clickhouse-server did not answer on ${url} within 10 s`)
  }

  const stop = async () => {
    const running = child
    child = undefined
    if (running === undefined || running.exitCode !== null) return
    const exited = new Promise((resolve) => running.once("exit", resolve))
    running.kill("SIGKILL")
    await exited
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "featbit-export-clickhouse-server-"))
    ports = { http: await closedPort(), tcp: await closedPort() }
    url = `http://127.0.0.1:${ports.http}`
    writeFileSync(join(folder, "config.xml"), serverConfig(folder, ports.http, ports.tcp))
    await start()
  })

  afterAll(async () => {
    await stop()
    rmSync(folder, { recursive: true, force: true })
  })

  it("is transient while the server is down, and the same source works again once it is back", async () => {
    await run(
      Effect.gen(function* () {
        const s = yield* openSource({ url, database: "featbit" })
        const answered = (error: SourceError) => !error.retryable && error.message.startsWith(`the database "featbit" does not exist on ${url}`)
        // Up: the server answers (there is no featbit database on a fresh server).
        expect(answered(yield* Effect.flip(s.check!))).toBe(true)
        yield* Effect.promise(stop)
        const down = yield* Effect.flip(s.check!)
        expect(down.retryable).toBe(true)
        expect(down.message).toMatch(new RegExp(`(connection refused|connection to ClickHouse at ${url} (failed|was closed))`))
        yield* Effect.promise(start)
        // A pooled socket of the old process may fail once more (transient); then the server answers.
        let back = yield* Effect.flip(s.check!)
        if (back.retryable) back = yield* Effect.flip(s.check!)
        expect(answered(back)).toBe(true)
      })
    )
  })
})
