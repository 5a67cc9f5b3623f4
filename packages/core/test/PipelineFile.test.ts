import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import * as util from "node:util"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { ConfigError, ConfigIssue } from "../src/Errors.js"
import { formatPath } from "../src/Errors.js"
import * as PipelineFile from "../src/PipelineFile.js"
import { defineSink, defineSource } from "../src/Plugin.js"
import { SourceFilters, resolveSourceFilters, sourceFilterIssues } from "../src/SourceFilters.js"

// ---------------------------------------------------------------------------------------------------------
// Test plugins: a ClickHouse-like source and a Segment-like sink with a secret write key.

const notUsed = () => Effect.die("make is not used by these tests")

const testSource = defineSource({
  type: "test-clickhouse",
  description: "A ClickHouse-like source for tests",
  config: Schema.Struct({
    host: Schema.String,
    port: Schema.optionalWith(Schema.Number, { default: () => 8123 }),
    database: Schema.optionalWith(Schema.String, { default: () => "featbit" })
  }),
  make: notUsed
})

const testSink = defineSink({
  type: "test-segment",
  description: "A Segment-like sink for tests",
  config: Schema.Struct({
    writeKey: Schema.Redacted(Schema.String),
    endpoint: Schema.optional(Schema.String)
  }),
  make: notUsed
})

const plugins: PipelineFile.PluginRegistry = { sources: [testSource], sinks: [testSink] }

// Two more, for messages that list the known types and for a sink with an optional block holding a secret.
const testMongo = defineSource({
  type: "test-mongo",
  description: "A MongoDB-like source for tests",
  config: Schema.Struct({ database: Schema.String }),
  make: notUsed
})

const testEventHub = defineSink({
  type: "test-eventhub",
  description: "An Event Hubs-like sink for tests",
  config: Schema.Struct({
    namespace: Schema.String,
    auth: Schema.optional(Schema.Struct({ keyName: Schema.String, key: Schema.Redacted(Schema.String) }))
  }),
  make: notUsed
})

const widePlugins: PipelineFile.PluginRegistry = { sources: [testSource, testMongo], sinks: [testSink, testEventHub] }

// ---------------------------------------------------------------------------------------------------------
// Helpers

const FILE = "/srv/featbit/pipelines.yaml"

const yaml = (lines: ReadonlyArray<string>): string => lines.join("\n") + "\n"

const parseOk = (text: string, env: Record<string, string> = {}, registry = plugins, file = FILE) => {
  const result = PipelineFile.parse(text, file, registry, { env })
  if (Either.isLeft(result)) throw new Error(`expected a valid file, got:\n${result.left.message}`)
  return result.right
}

const parseError = (text: string, env: Record<string, string> = {}, registry = plugins): ConfigError => {
  const result = PipelineFile.parse(text, FILE, registry, { env })
  if (Either.isRight(result)) throw new Error("expected a ConfigError")
  expect(result.left._tag).toBe("ConfigError")
  expect(result.left.file).toBe(FILE)
  return result.left
}

/** The issue at a key path (written pipelines[0].sink.writeKey); fails the test when there is none. */
const issueAt = (error: ConfigError, keyPath: string): ConfigIssue => {
  const issue = error.issues.find((candidate) => formatPath(candidate.path) === keyPath)
  if (issue === undefined) {
    throw new Error(`no issue at ${keyPath}; issues:\n${error.message}`)
  }
  return issue
}

/** Line and column (1-based) of the first occurrence of `needle` on line `line` of `text`. */
const where = (text: string, line: number, needle: string) => {
  const column = text.split("\n")[line - 1]!.indexOf(needle)
  if (column < 0) throw new Error(`${needle} is not on line ${line}`)
  return { line, column: column + 1 }
}

/** Checks a secret appears nowhere a person or a log could see the error. */
const expectNoSecret = (error: ConfigError, secret: string) => {
  expect(error.message).not.toContain(secret)
  expect(String(error)).not.toContain(secret)
  expect(JSON.stringify(error)).not.toContain(secret)
  expect(util.inspect(error, { depth: null })).not.toContain(secret)
  for (const issue of error.issues) expect(issue.message).not.toContain(secret)
}

const validFile = yaml([
  "# featbit-export pipelines",
  "pipelines:",
  "  - name: flags-to-segment",
  "    source:",
  "      type: test-clickhouse",
  "      host: ch.internal",
  "    sink:",
  "      type: test-segment",
  "      writeKey: ${SEGMENT_WRITE_KEY}",
  "  - name: metrics-once",
  "    mode: once",
  "    batch:",
  "      size: 250",
  "    retry:",
  "      maxRetries: 3",
  "    source:",
  "      type: test-clickhouse",
  "      host: ch.internal",
  "      port: ${CH_PORT:-9000}",
  "    sink:",
  "      type: test-segment",
  "      writeKey: plain-write-key"
])

const SECRET = "s3cr3t-segment-write-key-0001"

// ---------------------------------------------------------------------------------------------------------

describe("PipelineFile.parse: a valid file", () => {
  it("decodes two pipelines with the documented defaults", () => {
    const file = parseOk(validFile, { SEGMENT_WRITE_KEY: SECRET })
    expect(file.file).toBe(FILE)
    expect(file.pipelines.map((pipeline) => pipeline.name)).toEqual(["flags-to-segment", "metrics-once"])

    const [first, second] = file.pipelines
    // batch size 5000 and 4 in flight, follow mode
    expect(first!.batch).toEqual({ size: 5000, inFlight: 4 })
    expect(first!.mode).toBe("follow")
    // the retry defaults documented on the retry keys: 200ms first wait, 30s cap, 10 retries; 5s poll interval
    expect(Duration.toMillis(first!.retry.initialDelay)).toBe(200)
    expect(Duration.toMillis(first!.retry.maxDelay)).toBe(30_000)
    expect(first!.retry.maxRetries).toBe(10)
    expect(Duration.toMillis(first!.pollInterval)).toBe(5_000)
    // the plugin's own defaults apply too
    expect(first!.source).toEqual({ type: "test-clickhouse", host: "ch.internal", port: 8123, database: "featbit" })
    expect(first!.sink.type).toBe("test-segment")

    // a partial block keeps the defaults of the keys it does not give
    expect(second!.mode).toBe("once")
    expect(second!.batch).toEqual({ size: 250, inFlight: 4 })
    expect(second!.retry.maxRetries).toBe(3)
    expect(Duration.toMillis(second!.retry.initialDelay)).toBe(200)
    expect(Duration.toMillis(second!.retry.maxDelay)).toBe(30_000)
    expect(second!.source["port"]).toBe(9000)
  })

  it("puts the state folder .featbit-export beside the file", () => {
    const file = parseOk(validFile, { SEGMENT_WRITE_KEY: SECRET })
    expect(file.baseDir).toBe("/srv/featbit")
    expect(file.stateDir).toBe("/srv/featbit/.featbit-export")
  })

  it("resolves a relative file against the working directory, and the state folder beside it", () => {
    const file = parseOk(validFile, { SEGMENT_WRITE_KEY: SECRET }, plugins, "examples/pipelines.yaml")
    expect(file.stateDir).toBe(path.resolve("examples", ".featbit-export"))
    expect(file.baseDir).toBe(path.resolve("examples"))
  })

  it("resolves a `state` key against the file's folder, and lets the command line override it", () => {
    const text = "state: ../state\n" + validFile
    expect(parseOk(text, { SEGMENT_WRITE_KEY: SECRET }).stateDir).toBe("/srv/state")
    const overridden = PipelineFile.parse(text, FILE, plugins, {
      env: { SEGMENT_WRITE_KEY: SECRET },
      stateDir: "/var/lib/featbit-export"
    })
    expect(Either.getOrThrow(overridden).stateDir).toBe("/var/lib/featbit-export")
  })

  it("keeps a secret Redacted: String() prints <redacted>, the value is still there", () => {
    const file = parseOk(validFile, { SEGMENT_WRITE_KEY: SECRET })
    const writeKey = file.pipelines[0]!.sink["writeKey"] as Redacted.Redacted<string>
    expect(Redacted.isRedacted(writeKey)).toBe(true)
    expect(String(writeKey)).toBe("<redacted>")
    expect(`${writeKey}`).toBe("<redacted>")
    expect(Redacted.value(writeKey)).toBe(SECRET)
    // a written-out key is redacted as well
    expect(String(file.pipelines[1]!.sink["writeKey"])).toBe("<redacted>")
  })

  it("never shows a secret when the decoded file is logged", () => {
    const file = parseOk(validFile, { SEGMENT_WRITE_KEY: SECRET })
    expect(JSON.stringify(file)).not.toContain(SECRET)
    expect(util.inspect(file, { depth: null })).not.toContain(SECRET)
    expect(JSON.stringify(file)).not.toContain("plain-write-key")
  })

  it("reads the environment from process.env when no env is given", () => {
    const name = "FEATBIT_EXPORT_TEST_WRITE_KEY"
    process.env[name] = SECRET
    try {
      const result = PipelineFile.parse(validFile.replace("SEGMENT_WRITE_KEY", name), FILE, plugins)
      const writeKey = Either.getOrThrow(result).pipelines[0]!.sink["writeKey"] as Redacted.Redacted<string>
      expect(Redacted.value(writeKey)).toBe(SECRET)
    } finally {
      delete process.env[name]
    }
  })
})

describe("PipelineFile.parse: YAML anchors", () => {
  it("lets pipelines share a source block through an anchor and an alias", () => {
    const text = yaml([
      "pipelines:",
      "  - name: flags",
      "    source: &clickhouse",
      "      type: test-clickhouse",
      "      host: ${CH_HOST}",
      "    sink:",
      "      type: test-segment",
      "      writeKey: a",
      "  - name: metrics",
      "    source: *clickhouse",
      "    sink:",
      "      type: test-segment",
      "      writeKey: b"
    ])
    const file = parseOk(text, { CH_HOST: "ch.internal" })
    expect(file.pipelines.map((pipeline) => pipeline.source["host"])).toEqual(["ch.internal", "ch.internal"])
  })
})

describe("PipelineFile.parse: environment interpolation", () => {
  const file = (source: ReadonlyArray<string>) =>
    yaml([
      "pipelines:",
      "  - name: p",
      "    source:",
      "      type: test-clickhouse",
      ...source,
      "    sink:",
      "      type: test-segment",
      "      writeKey: wk"
    ])

  it("types a plain ${PORT} again after substitution, so it is a number", () => {
    const decoded = parseOk(file(["      host: h", "      port: ${PORT}"]), { PORT: "8123" })
    expect(decoded.pipelines[0]!.source["port"]).toBe(8123)
  })

  it("keeps a quoted reference a string", () => {
    const decoded = parseOk(file(['      host: "${HOST_NUMBER}"', "      database: '${DB}'"]), {
      HOST_NUMBER: "10",
      DB: "2024"
    })
    expect(decoded.pipelines[0]!.source["host"]).toBe("10")
    expect(decoded.pipelines[0]!.source["database"]).toBe("2024")
  })

  it("a value from the environment never changes the structure of the file", () => {
    const hostile = "x\n      port: 1\n    bogus: {a: [b]}"
    const decoded = parseOk(file(["      host: ${HOST}"]), { HOST: hostile })
    expect(decoded.pipelines[0]!.source["host"]).toBe(hostile)
    expect(decoded.pipelines[0]!.source["port"]).toBe(8123)
    const flow = parseOk(file(["      host: ${HOST}"]), { HOST: "a, b: [c]" })
    expect(flow.pipelines[0]!.source["host"]).toBe("a, b: [c]")
  })

  it("uses ${VAR:-default}, writes $$ as $, and ignores references in comments", () => {
    const decoded = parseOk(file(["      # set ${NOT_SET_ANYWHERE} to change the host", "      host: ${HOST:-ch.internal}", "      database: db$$1"]))
    expect(decoded.pipelines[0]!.source["host"]).toBe("ch.internal")
    expect(decoded.pipelines[0]!.source["database"]).toBe("db$1")
  })

  it("keeps a plain value from the environment that is not valid YAML on its own, without throwing", () => {
    for (const password of ["[unclosed", "a: b: c", "{x", "p@ss: w{rd"]) {
      let result: ReturnType<typeof PipelineFile.parse> | undefined
      expect(() => {
        result = PipelineFile.parse(file(["      host: h", "      database: ${DB_NAME}"]), FILE, plugins, {
          env: { DB_NAME: password }
        })
      }, password).not.toThrow()
      expect(Either.isRight(result!) && result.right.pipelines[0]!.source["database"], password).toBe(password)
    }
  })
})

describe("PipelineFile.parse: errors point at the line, column and key", () => {
  it("reports a YAML syntax error (bad indentation) with its line", () => {
    const text = yaml([
      "pipelines:",
      "  - name: a",
      "    source:",
      "      type: test-clickhouse",
      "     host: x",
      "    sink:",
      "      type: test-segment",
      "      writeKey: k"
    ])
    const error = parseError(text)
    expect(error.issues.length).toBeGreaterThanOrEqual(1)
    expect(error.issues[0]!.line).toBe(5)
    expect(typeof error.issues[0]!.column).toBe("number")
    expect(error.message).toContain(`${FILE}:5:`)
  })

  it("reports an unterminated quote and a duplicated key with their lines", () => {
    const unterminated = parseError(yaml(["pipelines:", "  - name: \"a", "    mode: once"]))
    expect(unterminated.issues[0]!.line).toBeGreaterThanOrEqual(2)

    const duplicated = parseError(
      yaml([
        "pipelines:",
        "  - name: a",
        "    source:",
        "      type: test-clickhouse",
        "      host: x",
        "      host: y",
        "    sink:",
        "      type: test-segment",
        "      writeKey: k"
      ])
    )
    expect(duplicated.issues[0]!.message).toMatch(/unique|duplicate/i)
    expect(duplicated.issues[0]!.line).toBe(6)
  })

  it("reports an unknown key at the key, listing the expected ones", () => {
    const text = yaml([
      "pipelines:",
      "  - name: a",
      "    batch:",
      "      inflight: 2",
      "    source:",
      "      type: test-clickhouse",
      "      host: x",
      "      hots: y",
      "    sink:",
      "      type: test-segment",
      "      writeKey: k"
    ])
    const error = parseError(text)
    const batchKey = issueAt(error, "pipelines[0].batch.inflight")
    expect(batchKey).toMatchObject(where(text, 4, "inflight"))
    expect(batchKey.message).toMatch(/unknown key/)
    expect(batchKey.message).toContain("inFlight")
    const sourceKey = issueAt(error, "pipelines[0].source.hots")
    expect(sourceKey).toMatchObject(where(text, 8, "hots"))
    expect(sourceKey.message).toContain("host")
  })

  it("reports a wrong type at the value", () => {
    const text = yaml([
      "pipelines:",
      "  - name: a",
      "    batch:",
      "      size: lots",
      "    source:",
      "      type: test-clickhouse",
      "      host: x",
      "    sink:",
      "      type: test-segment",
      "      writeKey: k"
    ])
    const error = parseError(text)
    const issue = issueAt(error, "pipelines[0].batch.size")
    expect(issue).toMatchObject(where(text, 4, "lots"))
    expect(issue.message).toMatch(/number|integer|int/i)
    expect(error.message).toContain(`${FILE}:4:13: pipelines[0].batch.size:`)
  })

  it("reports one wrong value once, at its own key, without noise about undefined", () => {
    const text = yaml([
      "pipelines:",
      "  - name: a",
      "    batch:",
      "      size: lots",
      "    source:",
      "      type: test-clickhouse",
      "      host: x",
      "    sink:",
      "      type: test-segment",
      "      writeKey: k"
    ])
    const error = parseError(text)
    expect(error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`)).toHaveLength(1)
    expect(error.message).not.toMatch(/Expected undefined/)
  })

  it("reports an unknown source type, listing the known types", () => {
    const text = yaml([
      "pipelines:",
      "  - name: a",
      "    source:",
      "      type: test-clickhous",
      "      host: x",
      "    sink:",
      "      type: test-segment",
      "      writeKey: k"
    ])
    const error = parseError(text, {}, widePlugins)
    const issue = issueAt(error, "pipelines[0].source.type")
    expect(issue).toMatchObject(where(text, 4, "test-clickhous"))
    expect(issue.message).toContain("test-clickhouse")
    expect(issue.message).toContain("test-mongo")
    expect(issue.message).toContain("test-clickhous")
  })

  it("reports a missing required key at the block that lacks it", () => {
    const text = yaml([
      "pipelines:",
      "  - name: a",
      "    source:",
      "      type: test-clickhouse",
      "      port: 8123",
      "  - source:",
      "      type: test-clickhouse",
      "      host: x",
      "    sink:",
      "      type: test-segment",
      "      writeKey: k"
    ])
    const error = parseError(text)
    const host = issueAt(error, "pipelines[0].source.host")
    expect(host.message).toMatch(/required|missing/)
    expect([3, 4]).toContain(host.line)
    const sink = issueAt(error, "pipelines[0].sink")
    expect(sink.message).toMatch(/required|missing/)
    expect(sink.line).toBe(2)
    const name = issueAt(error, "pipelines[1].name")
    expect(name.message).toMatch(/required|missing/)
    expect(name.line).toBe(6)
  })

  it("reports an empty file and an empty pipelines list", () => {
    expect(parseError("").message).toMatch(/pipelines/)
    expect(parseError("# nothing yet\n").message).toMatch(/pipelines/)
    const error = parseError("pipelines: []\n")
    expect(error.issues).toHaveLength(1)
    expect(error.issues[0]!.path[0]).toBe("pipelines")
    expect(error.issues[0]!.line).toBe(1)
  })

  it("reports a missing environment variable at its value, naming it", () => {
    const text = validFile
    const error = parseError(text, {})
    const issue = issueAt(error, "pipelines[0].sink.writeKey")
    expect(issue).toMatchObject(where(text, 9, "${SEGMENT_WRITE_KEY}"))
    expect(issue.message).toContain("SEGMENT_WRITE_KEY")
    expect(error.message).toContain(`${FILE}:9:17: pipelines[0].sink.writeKey:`)
  })

  it("reports the message of ${VAR:?message}", () => {
    const text = validFile.replace("${SEGMENT_WRITE_KEY}", "${SEGMENT_WRITE_KEY:?copy it from Segment's source settings}")
    const issue = issueAt(parseError(text), "pipelines[0].sink.writeKey")
    expect(issue.message).toContain("copy it from Segment's source settings")
  })

  it("reports duplicate pipeline names at the second one", () => {
    const text = validFile.replace("name: metrics-once", "name: flags-to-segment")
    const error = parseError(text, { SEGMENT_WRITE_KEY: SECRET })
    const issue = issueAt(error, "pipelines[1].name")
    expect(issue).toMatchObject(where(text, 10, "flags-to-segment"))
    expect(issue.message).toContain("flags-to-segment")
    expect(issue.message).toMatch(/unique|already/)
  })

  it("reports a pipeline name that cannot name a checkpoint file", () => {
    const text = validFile.replace("name: metrics-once", "name: ../../etc/passwd")
    const issue = issueAt(parseError(text, { SEGMENT_WRITE_KEY: SECRET }), "pipelines[1].name")
    expect(issue.line).toBe(10)
  })

  it("reports a bad duration clearly", () => {
    const text = validFile.replace("    mode: once", "    mode: once\n    pollInterval: soon")
    const error = parseError(text, { SEGMENT_WRITE_KEY: SECRET })
    const issue = issueAt(error, "pipelines[1].pollInterval")
    expect(issue).toMatchObject(where(text, 12, "soon"))
    expect(issue.message).toContain("soon")
    expect(issue.message).toMatch(/500ms|30s/)
  })
})

describe("PipelineFile.parse: several problems at once", () => {
  it("reports every schema problem of every pipeline", () => {
    const text = yaml([
      "pipelines:",
      "  - name: a",
      "    batch:",
      "      size: 0",
      "    source:",
      "      type: test-clickhouse",
      "      host: x",
      "    sink:",
      "      type: test-segment",
      "      writeKey: k",
      "  - name: b",
      "    colour: blue",
      "    source:",
      "      type: test-clickhouse",
      "      host: x"
    ])
    const error = parseError(text)
    expect(issueAt(error, "pipelines[0].batch.size").line).toBe(4)
    expect(issueAt(error, "pipelines[1].colour").line).toBe(12)
    expect(issueAt(error, "pipelines[1].sink").line).toBe(11)
  })

  it("reports every missing environment variable", () => {
    const text = validFile.replace("host: ch.internal", "host: ${CH_HOST}")
    const error = parseError(text, {})
    expect(issueAt(error, "pipelines[0].source.host").message).toContain("CH_HOST")
    expect(issueAt(error, "pipelines[0].sink.writeKey").message).toContain("SEGMENT_WRITE_KEY")
  })

  it("reports a missing environment variable and a schema problem together", () => {
    const text = validFile.replace("    mode: once", "    mode: sometimes")
    const error = parseError(text, {})
    expect(issueAt(error, "pipelines[0].sink.writeKey").message).toContain("SEGMENT_WRITE_KEY")
    expect(issueAt(error, "pipelines[1].mode").line).toBe(11)
  })

  it("reports duplicate names and a schema problem together", () => {
    const text = validFile.replace("name: metrics-once", "name: flags-to-segment").replace("size: 250", "size: lots")
    const error = parseError(text, { SEGMENT_WRITE_KEY: SECRET })
    expect(issueAt(error, "pipelines[1].batch.size").line).toBe(13)
    expect(issueAt(error, "pipelines[1].name").line).toBe(10)
  })
})

describe("PipelineFile.parse: secrets never appear in errors", () => {
  const sinkFile = (sink: ReadonlyArray<string>) =>
    yaml([
      "pipelines:",
      "  - name: p",
      "    source:",
      "      type: test-clickhouse",
      "      host: h",
      "    sink:",
      ...sink
    ])

  it("keeps a secret made of digits as text, exactly, when the key wants text", () => {
    const digits = "73190472200054419"
    const file = parseOk(sinkFile(["      type: test-segment", "      writeKey: ${SEGMENT_WRITE_KEY}"]), { SEGMENT_WRITE_KEY: digits })
    const writeKey = file.pipelines[0]!.sink["writeKey"]
    expect(Redacted.isRedacted(writeKey) && Redacted.value(writeKey as Redacted.Redacted<string>)).toBe(digits)
  })

  it("keeps a secret that reads as a YAML boolean as text", () => {
    const file = parseOk(sinkFile(["      type: test-segment", "      writeKey: ${SEGMENT_WRITE_KEY}"]), { SEGMENT_WRITE_KEY: "true" })
    const writeKey = file.pipelines[0]!.sink["writeKey"]
    expect(Redacted.isRedacted(writeKey) && Redacted.value(writeKey as Redacted.Redacted<string>)).toBe("true")
  })

  it("when the secret lands in a key that expects something else", () => {
    const error = parseError(
      sinkFile(["      type: test-segment", "      writeKey: k", "    mode: ${SEGMENT_WRITE_KEY}"]),
      { SEGMENT_WRITE_KEY: "wk-5f3a9c" }
    )
    issueAt(error, "pipelines[0].mode")
    expectNoSecret(error, "wk-5f3a9c")
  })

  it("when something else is wrong next to it", () => {
    const error = parseError(
      sinkFile(["      type: test-segment", "      writeKey: ${SEGMENT_WRITE_KEY}", "      endpont: https://api.segment.io"]),
      { SEGMENT_WRITE_KEY: SECRET }
    )
    issueAt(error, "pipelines[0].sink.endpont")
    expectNoSecret(error, SECRET)
  })

  it("when the sink type is unknown or missing", () => {
    for (const typeLine of ["      type: segmnet", "      kind: test-segment"]) {
      const error = parseError(sinkFile([typeLine, "      writeKey: ${SEGMENT_WRITE_KEY}"]), { SEGMENT_WRITE_KEY: SECRET }, widePlugins)
      expectNoSecret(error, SECRET)
    }
  })

  it("when the whole sink is the secret", () => {
    const error = parseError(sinkFile([]).replace("    sink:\n", "    sink: ${SEGMENT_WRITE_KEY}\n"), {
      SEGMENT_WRITE_KEY: SECRET
    })
    issueAt(error, "pipelines[0].sink")
    expectNoSecret(error, SECRET)
  })

  it("when a sibling inside an optional block that holds the secret is wrong", () => {
    const text = sinkFile([
      "      type: test-eventhub",
      "      namespace: featbit-events",
      "      auth:",
      "        keyName: 5",
      "        key: ${EVENTHUB_KEY}"
    ])
    const error = parseError(text, { EVENTHUB_KEY: SECRET }, widePlugins)
    issueAt(error, "pipelines[0].sink.auth.keyName")
    expectNoSecret(error, SECRET)
  })

  it("when a secret is written in the file under a secret-looking key with the wrong type", () => {
    const error = parseError(sinkFile(["      type: test-segment", "      writeKey: 987654321"]))
    expectNoSecret(error, "987654321")
  })
})

describe("PipelineFile.load", () => {
  it.live("reads a file from disk and anchors the state folder beside it", () =>
    Effect.gen(function* () {
      const dir = yield* Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "featbit-export-pipelinefile-")))
      const file = path.join(dir, "pipelines.yaml")
      yield* Effect.promise(() => fs.writeFile(file, validFile))
      const loaded = yield* PipelineFile.load(file, plugins, { env: { SEGMENT_WRITE_KEY: SECRET } })
      expect(loaded.pipelines).toHaveLength(2)
      expect(loaded.stateDir).toBe(path.join(dir, ".featbit-export"))
      yield* Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
    })
  )

  it.live("fails with a ConfigError naming a file that does not exist", () =>
    Effect.gen(function* () {
      const file = path.join(os.tmpdir(), "featbit-export-no-such-dir", "missing.yaml")
      const error = yield* Effect.flip(PipelineFile.load(file, plugins))
      expect(error._tag).toBe("ConfigError")
      expect(error.message).toContain(file)
      expect(error.message).toMatch(/no such file/)
    })
  )
})

describe("PipelineFile.jsonSchema", () => {
  type Json = { readonly [key: string]: unknown }

  const schema = PipelineFile.jsonSchema(widePlugins) as Json
  const resolve = (node: unknown): Json => {
    const json = node as Json
    if (typeof json["$ref"] === "string") {
      const name = (json["$ref"] as string).replace(/^#\/\$defs\//, "")
      return resolve((schema["$defs"] as Json)[name])
    }
    return json
  }
  const variants = (node: unknown): Array<Json> => {
    const json = resolve(node)
    return Array.isArray(json["anyOf"]) ? (json["anyOf"] as Array<unknown>).map(resolve) : [json]
  }

  it("is a draft-07 object schema", () => {
    expect(schema["$schema"]).toBe("http://json-schema.org/draft-07/schema#")
    expect(schema["type"]).toBe("object")
    expect(schema["required"]).toContain("pipelines")
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema)
  })

  it("describes pipeline items with their common keys and no other keys", () => {
    const pipelines = resolve((schema["properties"] as Json)["pipelines"])
    expect(pipelines["type"]).toBe("array")
    const items = resolve(pipelines["items"])
    expect(items["additionalProperties"]).toBe(false)
    expect(items["required"]).toEqual(expect.arrayContaining(["name", "source", "sink"]))
    expect(Object.keys(items["properties"] as Json)).toEqual(
      expect.arrayContaining(["name", "batch", "retry", "mode", "pollInterval", "source", "sink"])
    )
  })

  it("has one closed variant per plugin, with the plugin's keys and its type", () => {
    const items = resolve(resolve((schema["properties"] as Json)["pipelines"])["items"])
    const properties = items["properties"] as Json
    const expected = [
      ["source", "test-clickhouse", ["host", "port", "database"]],
      ["source", "test-mongo", ["database"]],
      ["sink", "test-segment", ["writeKey", "endpoint"]],
      ["sink", "test-eventhub", ["namespace", "auth"]]
    ] as const
    for (const [kind, type, keys] of expected) {
      const variant = variants(properties[kind]).find((candidate) =>
        JSON.stringify((candidate["properties"] as Json | undefined)?.["type"] ?? {}).includes(`"${type}"`)
      )
      expect(variant, `${kind} ${type}`).toBeDefined()
      expect(variant!["additionalProperties"], `${kind} ${type}`).toBe(false)
      expect(Object.keys(variant!["properties"] as Json).sort(), `${kind} ${type}`).toEqual(["type", ...keys].sort())
    }
    expect(JSON.stringify(properties["sink"])).not.toContain("host")
  })
})

describe("checks across keys (a plugin's configIssues)", () => {
  const filtered = defineSource({
    type: "test-filtered",
    description: "A source with the shared filters",
    config: Schema.Struct({ ...SourceFilters }),
    configIssues: sourceFilterIssues,
    make: notUsed
  })
  const registry: PipelineFile.PluginRegistry = { sources: [filtered], sinks: [testSink] }

  it("reports envId beside envIds, and a window that selects nothing, at the line of the key to change", () => {
    const text = [
      "pipelines:",
      "  - name: a",
      "    source:",
      "      type: test-filtered",
      "      envId: env-1",
      "      envIds: [env-2]",
      "      startAt: 2025-01-02T00:00:00Z",
      "      endAt: 2025-01-01T00:00:00Z",
      "    sink: { type: test-segment, writeKey: k }",
      ""
    ].join("\n")
    const error = parseError(text, {}, registry)
    expect(error.issues.map((issue) => [issue.line, formatPath(issue.path), issue.message])).toEqual([
      [5, "pipelines[0].source.envId", "envId and envIds are both given; keep one (envId: <id> is a shorthand for envIds: [<id>])"],
      [8, "pipelines[0].source.endAt", "endAt (2025-01-01T00:00:00.000000Z) must be after startAt (2025-01-02T00:00:00.000000Z); fix the window"]
    ])
  })

  it("takes envId alone as the one environment", () => {
    const file = parseOk("pipelines:\n  - name: a\n    source: { type: test-filtered, envId: env-1 }\n    sink: { type: test-segment, writeKey: k }\n", {}, registry)
    expect(resolveSourceFilters(file.pipelines[0]!.source as never).envIds).toEqual(["env-1"])
  })
})
