// A canary in every secret field of every built-in plugin, against far ends that quote back what they were
// sent (headers, credentials, bodies) in every encoding. Through the built CLI (`validate`, `check`,
// `run --once`, `preview`), with pipes and on a terminal: no form of any canary may reach stdout, stderr, a
// dead letter, a checkpoint or an output file.
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { type EventHubPeer, type HttpFront, type SegmentReceiver, startEventHubPeer, startHttpFront, startMongoWireServer, startSegmentReceiver } from "@featbit-export/testkit"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import { encodings, quoteEveryForm, startHttpEcho, startPostgresEcho } from "./secrets-doubles.js"
import { assertBuilt, bin, cli, tempDir, writeFile } from "./support.js"

beforeAll(assertBuilt)

const closers: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const close of closers.splice(0)) await close()
})

/**
 * A canary for one field: found nowhere else, and with the characters that make its encodings differ from
 * it (a quote and a backslash for JSON, "/+=&" for URLs and base64 neighbours).
 */
const canary = (field: string): string => `cn"${field}\\q/7+=&z`

const hasScript = spawnSync("script", ["--version"]).status === 0

interface Printed {
  readonly what: string
  readonly code: number | null
  readonly text: string
}

const cleanEnv = (env: Record<string, string>): NodeJS.ProcessEnv => {
  const out: NodeJS.ProcessEnv = { ...process.env, ...env }
  delete out["FEATBIT_EXPORT_LOG_LEVEL"]
  delete out["FEATBIT_EXPORT_DEBUG"]
  return out
}

/** The CLI on a pseudo-terminal (`script`), without blocking this process: the far ends live in it. */
const onTerminal = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string>): Promise<{ code: number | null; text: string }> =>
  new Promise((resolve, reject) => {
    const command = [process.execPath, bin, ...args].map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(" ")
    const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd, env: cleanEnv(env), stdio: ["ignore", "pipe", "pipe"] })
    let text = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => void (text += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => void (text += chunk))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, text }))
  })

const COMMANDS: ReadonlyArray<ReadonlyArray<string>> = [["validate"], ["check"], ["run", "--once"], ["preview", "--limit", "3"]]

/**
 * Every command on the file, with pipes (state in `pipes/`) and on a terminal (state in `tty/`), the two side
 * by side; the commands of each one after the other, as a person would run them.
 */
const everyCommand = async (dir: string, file: string, env: Record<string, string>): Promise<Array<Printed>> => {
  const piped = async () => {
    const out: Array<Printed> = []
    for (const command of COMMANDS) {
      const result = await cli([command[0]!, file, ...command.slice(1), ...(command[0] === "validate" ? [] : ["--state-dir", "pipes"])], { cwd: dir, env })
      out.push({ what: `${command.join(" ")} (pipes)`, code: result.code, text: `${result.stdout}\n${result.stderr}` })
    }
    return out
  }
  const terminal = async () => {
    const out: Array<Printed> = []
    if (!hasScript) return out
    for (const command of COMMANDS) {
      const result = await onTerminal([command[0]!, file, ...command.slice(1), ...(command[0] === "validate" ? [] : ["--state-dir", "tty"])], dir, env)
      out.push({ what: `${command.join(" ")} (terminal)`, ...result })
    }
    return out
  }
  const [a, b] = await Promise.all([piped(), terminal()])
  return [...a, ...b]
}

/** Every file the runs left under `dir` (dead letters, checkpoints, output files), by name. */
const filesUnder = (dir: string): Array<{ name: string; text: string }> => {
  const out: Array<{ name: string; text: string }> = []
  const walk = (at: string): void => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name)
      if (entry.isDirectory()) walk(full)
      else out.push({ name: path.relative(dir, full), text: fs.readFileSync(full, "utf8") })
    }
  }
  walk(dir)
  return out
}

/**
 * Fails naming each command or file, canary and encoding that leaked. Each test checks it first, so that on
 * the code as it was the failure lists the leaks themselves.
 */
const expectNoLeak = (dir: string, printed: ReadonlyArray<Printed>, secrets: ReadonlyArray<{ secret: string; user?: string }>): void => {
  const places = [...printed.map((p) => ({ name: p.what, text: p.text })), ...filesUnder(dir)]
  const leaks: Array<string> = []
  for (const { secret, user } of secrets) {
    for (const [encoding, form] of Object.entries(encodings(secret, user))) {
      for (const place of places) if (place.text.includes(form)) leaks.push(`${place.name}: ${JSON.stringify(secret)} as ${encoding}`)
    }
  }
  expect(leaks).toEqual([])
}

/** The exit code of each command, with pipes and on a terminal alike. */
const expectCodes = (printed: ReadonlyArray<Printed>, expected: { validate: number; check: number; run: number; preview: number }): void => {
  const wanted = (what: string) => expected[what.split(" ")[0] as keyof typeof expected]
  expect(printed.map((p) => [p.what, p.code])).toEqual(printed.map((p) => [p.what, wanted(p.what)]))
  expect(printed.length).toBe(hasScript ? 8 : 4)
}
const all = (printed: ReadonlyArray<Printed>): string => printed.map((p) => p.text).join("\n")

const FAST_RETRY = "    retry: { initialDelay: 10ms, maxDelay: 20ms, maxRetries: 1 }\n"

describe("a canary in every secret field never leaves the runner, in any encoding", () => {
  it("clickhouse: the password, against an HTTP front that quotes the Authorization header it refused", async () => {
    const front: HttpFront = await startHttpFront({ users: { default: "the-right-one" }, echoCredentials: true })
    closers.push(() => front.close())
    const dir = tempDir()
    const password = canary("chpass")
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: ch
    source: { type: clickhouse, url: "${front.url}", password: "\${CH_PASSWORD}", envId: e1, lag: 0s }
    sink: { type: file, path: out/ch.ndjson }
${FAST_RETRY}`
    )
    const printed = await everyCommand(dir, file, { CH_PASSWORD: password })
    expectNoLeak(dir, printed, [{ secret: password, user: "default" }])
    expectCodes(printed, { validate: 0, check: 1, run: 1, preview: 1 })
    // Not vacuous: the front quoted the header back, and what reached the output is its scrubbed quote.
    expect(all(printed)).toContain("you sent Authorization: Basic ***")
  })

  it("clickhouse: a password in the url is refused when the file loads, and shown as ***", async () => {
    const dir = tempDir()
    const password = canary("churl")
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: ch
    source: { type: clickhouse, url: "\${CH_URL}", envId: e1 }
    sink: { type: file, path: out/ch.ndjson }
${FAST_RETRY}`
    )
    const printed = await everyCommand(dir, file, { CH_URL: `http://bob:${encodeURIComponent(password)}@127.0.0.1:8123` })
    expectNoLeak(dir, printed, [{ secret: password, user: "bob" }])
    expectCodes(printed, { validate: 2, check: 2, run: 2, preview: 2 })
    expect(all(printed)).toContain("pipeline.yaml:3:33: pipelines[0].source.url: url carries credentials (http://bob:***@127.0.0.1:8123)")
  })

  it("postgres: the password and a url's password, against a server that asks for them in clear text and quotes them", async () => {
    const server = await startPostgresEcho()
    closers.push(() => server.close())
    const dir = tempDir()
    const password = canary("pgpass")
    const urlPassword = canary("pgurl")
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: pg-password
    source: { type: postgres, host: 127.0.0.1, port: ${server.port}, user: reader, password: "\${PG_PASSWORD}", database: featbit, lag: 0s }
    sink: { type: file, path: out/pg1.ndjson }
${FAST_RETRY}  - name: pg-url
    source: { type: postgres, url: "\${PG_URL}", lag: 0s }
    sink: { type: file, path: out/pg2.ndjson }
${FAST_RETRY}`
    )
    const printed = await everyCommand(dir, file, {
      PG_PASSWORD: password,
      PG_URL: `postgres://reader:${encodeURIComponent(urlPassword)}@127.0.0.1:${server.port}/featbit`
    })
    expectNoLeak(dir, printed, [
      { secret: password, user: "reader" },
      { secret: urlPassword, user: "reader" }
    ])
    expectCodes(printed, { validate: 0, check: 1, run: 1, preview: 1 })
    // Not vacuous: the server was given both passwords, and its quotes reached the output scrubbed.
    expect(server.passwords).toContain(password)
    expect(server.passwords).toContain(urlPassword)
    expect(all(printed)).toContain("you sent plain: ***")
  })

  it("clickhouse sink: the password, against an HTTP front that quotes the Authorization header it refused", async () => {
    const front: HttpFront = await startHttpFront({ users: { default: "the-right-one" }, echoCredentials: true })
    closers.push(() => front.close())
    const dir = tempDir()
    const password = canary("chsink")
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: to-ch
    source: { type: generate, count: 20 }
    sink: { type: clickhouse, url: "${front.url}", password: "\${CH_PASSWORD}" }
${FAST_RETRY}`
    )
    const printed = await everyCommand(dir, file, { CH_PASSWORD: password })
    expectNoLeak(dir, printed, [{ secret: password, user: "default" }])
    expectCodes(printed, { validate: 0, check: 1, run: 1, preview: 0 })
    expect(all(printed)).toContain("you sent Authorization: Basic ***")
  })

  it("postgres sink: the password and a url's password, against a server that asks for them in clear text and quotes them", async () => {
    const server = await startPostgresEcho()
    closers.push(() => server.close())
    const dir = tempDir()
    const password = canary("pgsinkpass")
    const urlPassword = canary("pgsinkurl")
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: to-pg
    source: { type: generate, count: 20 }
    sink: { type: postgres, host: 127.0.0.1, port: ${server.port}, user: writer, password: "\${PG_PASSWORD}", database: analytics }
${FAST_RETRY}  - name: to-pg-url
    source: { type: generate, count: 20 }
    sink: { type: postgres, url: "\${PG_URL}" }
${FAST_RETRY}`
    )
    const printed = await everyCommand(dir, file, {
      PG_PASSWORD: password,
      PG_URL: `postgres://writer:${encodeURIComponent(urlPassword)}@127.0.0.1:${server.port}/analytics`
    })
    expectNoLeak(dir, printed, [
      { secret: password, user: "writer" },
      { secret: urlPassword, user: "writer" }
    ])
    expectCodes(printed, { validate: 0, check: 1, run: 1, preview: 0 })
    expect(server.passwords).toContain(password)
    expect(server.passwords).toContain(urlPassword)
    expect(all(printed)).toContain("you sent plain: ***")
  })

  it("mongo: the url's password, against a wire server that quotes it when it refuses the login", async () => {
    const server = await startMongoWireServer()
    closers.push(() => server.close())
    const password = canary("mongo")
    server.fail({ command: "saslStart", action: "error", code: 8000, codeName: "AtlasError", errmsg: `bad auth: you sent ${quoteEveryForm(password, "reader")}` }, 1000)
    const dir = tempDir()
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: mongo
    source: { type: mongo, url: "\${MONGO_URL}", lag: 0s }
    sink: { type: file, path: out/mongo.ndjson }
${FAST_RETRY}`
    )
    const printed = await everyCommand(dir, file, {
      MONGO_URL: `mongodb://reader:${encodeURIComponent(password)}@127.0.0.1:${server.port}/?directConnection=true&serverSelectionTimeoutMS=2000`
    })
    expectNoLeak(dir, printed, [{ secret: password, user: "reader" }])
    expectCodes(printed, { validate: 0, check: 1, run: 1, preview: 1 })
    expect(server.commands.some((command) => command.name === "saslStart")).toBe(true)
    expect(all(printed)).toContain("you sent plain: ***")
  })

  it("segment: the write key, against endpoints that quote the Authorization header and the body, refusing events, failing, and refusing past the dead-letter limit", async () => {
    const writeKey = canary("segment")
    const start = async (status: number, emptyStatus: number): Promise<SegmentReceiver> => {
      const receiver = await startSegmentReceiver({ writeKey, faults: { probability: 1, seed: 1, kinds: [{ kind: "echo", status, emptyStatus }] } })
      closers.push(() => receiver.stop())
      return receiver
    }
    const refusing = await start(400, 200)
    const failing = await start(500, 500)
    const limited = await start(400, 200)
    const dir = tempDir()
    const sink = (url: string) => `{ type: segment, writeKey: "\${SEGMENT_WRITE_KEY}", endpoint: "${url}", maxEventsPerRequest: 4 }`
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: seg-refused
    source: { type: generate, count: 8, seed: 5 }
    sink: ${sink(refusing.url)}
${FAST_RETRY}  - name: seg-failing
    source: { type: generate, count: 8, seed: 6 }
    sink: ${sink(failing.url)}
${FAST_RETRY}  - name: seg-limited
    source: { type: generate, count: 8, seed: 7 }
    sink: ${sink(limited.url)}
    deadLetters: { max: 2, window: 100 }
${FAST_RETRY}`
    )
    const printed = await everyCommand(dir, file, { SEGMENT_WRITE_KEY: writeKey })
    expectNoLeak(dir, printed, [{ secret: writeKey }])
    expectCodes(printed, { validate: 0, check: 1, run: 1, preview: 0 })
    // Not vacuous: each endpoint quoted the request, and every place that quotes it got it scrubbed.
    for (const receiver of [refusing, failing, limited]) expect(receiver.stats().faults).toBeGreaterThan(0)
    const letters = filesUnder(dir).filter((f) => f.name.endsWith("seg-refused.dead-letter.ndjson"))
    expect(letters.length).toBe(hasScript ? 2 : 1)
    expect(letters[0]!.text).toContain("you sent Authorization: Basic [redacted]")
    expect(all(printed)).toContain("more than deadLetters.max")
  })

  it("segment: a password in the endpoint is refused when the file loads, and shown as ***", async () => {
    const dir = tempDir()
    const password = canary("segurl")
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: seg
    source: { type: generate, count: 8 }
    sink: { type: segment, writeKey: "\${SEGMENT_WRITE_KEY}", endpoint: "\${SEGMENT_ENDPOINT}" }
${FAST_RETRY}`
    )
    const printed = await everyCommand(dir, file, { SEGMENT_WRITE_KEY: canary("segkey"), SEGMENT_ENDPOINT: `https://proxy:${encodeURIComponent(password)}@segment.example:8443/` })
    expectNoLeak(dir, printed, [{ secret: password, user: "proxy" }, { secret: canary("segkey") }])
    expectCodes(printed, { validate: 2, check: 2, run: 2, preview: 2 })
    expect(all(printed)).toContain("endpoint carries credentials (https://proxy:***@segment.example:8443/)")
  })

  it("eventhub: the connection string's key, against a hub that quotes it when it refuses a send, and a sasKey", async () => {
    const peer: EventHubPeer & { stop: () => Promise<void> } = await startEventHubPeer()
    closers.push(() => peer.stop())
    const key = canary("ehkey")
    const sasKey = canary("ehsas")
    peer.rejectAll("amqp:resource-limit-exceeded", `quota exceeded for the key you signed with: ${quoteEveryForm(key)}`)
    const dir = tempDir()
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: eh
    source: { type: generate, count: 8 }
    sink: { type: eventhub, connectionString: "\${EH_CONNECTION_STRING}", sdkMaxRetries: 0, requestTimeout: 5s, serverBusyWait: 10ms }
${FAST_RETRY}  - name: eh-sas
    source: { type: generate, count: 8 }
    sink: { type: eventhub, namespace: 127.0.0.1, hub: hub, sasKeyName: send, sasKey: "\${EH_SAS_KEY}", sdkMaxRetries: 0, requestTimeout: 2s }
    # Slower to give up than eh, so that eh's refusal (which quotes the key) is what stops the run.
    retry: { initialDelay: 1s, maxDelay: 1s, maxRetries: 3 }
`
    )
    const printed = await everyCommand(dir, file, { EH_CONNECTION_STRING: peer.connectionString(undefined, key), EH_SAS_KEY: sasKey })
    expectNoLeak(dir, printed, [{ secret: key }, { secret: sasKey }])
    expectCodes(printed, { validate: 0, check: 1, run: 1, preview: 0 })
    expect(peer.attempts()).toBeGreaterThan(0)
    expect(all(printed)).toContain("quota exceeded for the key you signed with: plain: <redacted>")
  })

  /**
   * An analytics sink's file with two pipelines, one into an endpoint that refuses with 400 (the events' fault:
   * dead letters quote the answer) and one into an endpoint that refuses with 401, both quoting the request.
   */
  const analyticsEchoes = async (
    sink: (url: string) => string,
    env: Record<string, string>,
    secrets: ReadonlyArray<{ secret: string; user?: string }>,
    /**
     * The destination's 400 refusing the first event of a request, its reason being the echo's quote, and
     * how many of the 8 events it leaves dead-lettered.
     */
    refuseFirst?: { readonly answer: (quote: string, body: unknown) => string; readonly letters: number }
  ) => {
    const refusing = await startHttpEcho(400)
    const unauthorized = await startHttpEcho(401)
    const listing = refuseFirst === undefined ? undefined : await startHttpEcho(400, refuseFirst.answer)
    closers.push(refusing.close, unauthorized.close, ...(listing === undefined ? [] : [listing.close]))
    const dir = tempDir()
    const file = writeFile(
      dir,
      "pipeline.yaml",
      `pipelines:
  - name: refused
    source: { type: generate, count: 8, seed: 5 }
    sink: ${sink(refusing.url)}
    deadLetters: { max: 100 }
${FAST_RETRY}  - name: unauthorized
    source: { type: generate, count: 8, seed: 6 }
    sink: ${sink(unauthorized.url)}
${FAST_RETRY}${
        listing === undefined
          ? ""
          : `  - name: listed
    source: { type: generate, count: 8, seed: 7 }
    sink: ${sink(listing.url)}
    deadLetters: { max: 100 }
${FAST_RETRY}`
      }`
    )
    const printed = await everyCommand(dir, file, env)
    expectNoLeak(dir, printed, secrets)
    expectCodes(printed, { validate: 0, check: 1, run: 1, preview: 0 })
    // Not vacuous: both endpoints quoted requests back, and the quotes reached the output scrubbed.
    expect(refusing.requests()).toBeGreaterThan(0)
    expect(unauthorized.requests()).toBeGreaterThan(0)
    // The echo's "plain: <secret>" line came through, its secret replaced by a marker.
    expect(all(printed)).toMatch(/plain: (\[redacted\]|<redacted>|\*\*\*)/)
    if (listing !== undefined) {
      // The events refused one by one, each dead letter quoting the echo with the secret scrubbed.
      const letters = filesUnder(dir).filter((f) => f.name.endsWith("listed.dead-letter.ndjson"))
      expect(letters.length).toBe(hasScript ? 2 : 1)
      expect(letters[0]!.text.trim().split("\n").length).toBe(refuseFirst!.letters)
      expect(letters[0]!.text).toMatch(/plain: (\[redacted\]|<redacted>|\*\*\*)/)
    }
    return { dir, printed }
  }

  it("amplitude: the api key, sent in the body, against endpoints that quote it back", async () => {
    const apiKey = canary("amplitude")
    await analyticsEchoes(
      (url) => `{ type: amplitude, apiKey: "\${AMPLITUDE_API_KEY}", endpoint: "${url}" }`,
      { AMPLITUDE_API_KEY: apiKey },
      [{ secret: apiKey }],
      // The unlisted events are sent again (a 400 ingests nothing), so each is refused in turn: 8 letters.
      { answer: (quote) => JSON.stringify({ code: 400, error: quote, events_with_invalid_fields: { user_id: [0] } }), letters: 8 }
    )
  })

  it("mixpanel: a service account's secret and a project secret, sent as Basic credentials, against endpoints that quote them back", async () => {
    const secret = canary("mpsa")
    const projectSecret = canary("mpproj")
    const user = "featbit-export.sa.mp-service-account"
    await analyticsEchoes(
      (url) => `{ type: mixpanel, serviceAccount: { username: ${user}, secret: "\${MP_SA_SECRET}" }, projectId: "4242", endpoint: "${url}" }`,
      { MP_SA_SECRET: secret },
      [{ secret, user }],
      // Strict /import stores the records it does not list: one letter for the one request of 8.
      {
        answer: (quote, body) => {
          const first = (Array.isArray(body) ? body[0] : undefined) as { properties?: { $insert_id?: string } } | undefined
          return JSON.stringify({
            code: 400,
            error: "some data points in the request failed validation",
            num_records_imported: 7,
            status: "failure",
            failed_records: [{ index: 0, $insert_id: first?.properties?.$insert_id, field: "properties.time", message: quote }]
          })
        },
        letters: 1
      }
    )
    await analyticsEchoes((url) => `{ type: mixpanel, projectSecret: "\${MP_PROJECT_SECRET}", endpoint: "${url}" }`, { MP_PROJECT_SECRET: projectSecret }, [
      { secret: projectSecret }
    ])
  })

  it("posthog: the project api key, sent in the body, against endpoints that quote it back", async () => {
    const apiKey = canary("posthog")
    await analyticsEchoes((url) => `{ type: posthog, apiKey: "\${POSTHOG_API_KEY}", host: "${url}" }`, { POSTHOG_API_KEY: apiKey }, [{ secret: apiKey }])
  })
})
