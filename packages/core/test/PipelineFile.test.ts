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

  it("has a community variant per kind: use: <package> with the package's own keys, and no type", () => {
    const items = resolve(resolve((schema["properties"] as Json)["pipelines"])["items"])
    for (const kind of ["source", "sink"] as const) {
      const all = variants((items["properties"] as Json)[kind])
      // One flat anyOf, so an editor lists every choice at one level.
      expect(all.every((variant) => variant["anyOf"] === undefined), kind).toBe(true)
      const community = all.filter((variant) => (variant["required"] as Array<string> | undefined)?.includes("use"))
      expect(community, kind).toHaveLength(1)
      const variant = community[0]!
      expect(variant["required"]).toEqual(["use"])
      expect(resolve((variant["properties"] as Json)["use"])).toMatchObject({ type: "string", minLength: 1 })
      // Free-form keys (no additionalProperties: false), but not type beside use.
      expect(variant["additionalProperties"]).toBeUndefined()
      expect(variant["not"]).toEqual({ required: ["type"] })
      // Every other variant still requires its type, so a block with use: matches the community one only.
      for (const other of all.filter((candidate) => candidate !== variant)) expect(other["required"], kind).toContain("type")
    }
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

// ---------------------------------------------------------------------------------------------------------
// The front door: what cannot be a pipeline file is refused before it is parsed, in one sentence.

const onePipeline = (extra: ReadonlyArray<string> = [], source: ReadonlyArray<string> = ["      host: h"]) =>
  yaml(["pipelines:", "  - name: p", "    source:", "      type: test-clickhouse", ...source, "    sink:", "      type: test-segment", "      writeKey: k", ...extra])

/** Parses and returns the error with how long it took. */
const timedError = (text: string, env: Record<string, string> = {}) => {
  const started = performance.now()
  const error = parseError(text, env)
  return { error, ms: performance.now() - started }
}

describe("PipelineFile.parse: limits before parsing", () => {
  it("refuses more than 1 MB at once, without parsing it", () => {
    const { error, ms } = timedError("pipelines:\n" + "  - x\n".repeat(200_000))
    expect(error.issues).toHaveLength(1)
    expect(error.message).toMatch(/^\/srv\/featbit\/pipelines\.yaml: the file is over 1\.1 MB, more than a pipeline file may be \(1 MB\)/)
    expect(ms).toBeLessThan(200)
  })

  it("refuses binary content without echoing it", () => {
    const error = parseError("pipelines:\u0000\u0001PK\u0003\u0004secret-bytes")
    expect(error.message).toMatch(/the file is not text/)
    expect(error.message).not.toContain("secret-bytes")
  })

  it("refuses a control character at its line and column", () => {
    const error = parseError(onePipeline([], ["      host: h\u0007x"]))
    expect(error.issues[0]).toMatchObject({ line: 5, column: 14 })
    expect(error.issues[0]!.message).toMatch(/control character \(U\+0007\)/)
  })

  it("refuses text a lossy decoding left U+FFFD in, at its line, as not UTF-8", () => {
    const error = parseError(onePipeline([], ["      host: caf\uFFFD"]))
    expect(error.issues[0]).toMatchObject({ line: 5, column: 16 })
    expect(error.issues[0]!.message).toMatch(/not UTF-8.*save the file as UTF-8/)
  })

  const nested = (levels: number) => `pipelines: ${"[".repeat(levels)}${"]".repeat(levels)}\n`

  it("refuses nesting deeper than 64 levels, before the composer recurses into it", () => {
    // The top-level block and 64 lists: at the limit, so the schema speaks.
    expect(parseError(nested(63)).message).not.toMatch(/levels deep/)
    const error = parseError(nested(64))
    expect(error.issues).toHaveLength(1)
    expect(error.issues[0]!.message).toBe("the file nests blocks and lists more than 64 levels deep here; a pipeline file needs about 8: check the brackets and the indentation")
    expect(error.issues[0]!.line).toBe(1)
  })

  it("refuses 100 KB of nesting of every kind quickly, without overflowing the stack", () => {
    for (const text of [nested(50_000), `pipelines: ${"{a: ".repeat(20_000)}1${"}".repeat(20_000)}\n`, `pipelines:\n${"- ".repeat(50_000)}x\n`]) {
      const { error, ms } = timedError(text)
      expect(error.issues[0]!.message).toMatch(/more than 64 levels deep/)
      expect(ms).toBeLessThan(500)
    }
  })

  it("refuses a second document, saying one document per file", () => {
    const error = parseError(onePipeline() + "---\n" + onePipeline())
    expect(error.issues).toEqual([expect.objectContaining({ line: 9, message: expect.stringMatching(/keep one document per file/) })])
    expect(error.message).not.toMatch(/parseAllDocuments/)
  })

  it("refuses a billion-laughs document in a few milliseconds, at its first alias", () => {
    const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for (let i = 1; i < 9; i++) lines.push(`${"abcdefghi"[i]}: &${"abcdefghi"[i]} [${Array(9).fill(`*${"abcdefghi"[i - 1]}`).join(",")}]`)
    const { error, ms } = timedError(yaml([...lines, "pipelines: *i"]))
    expect(error.issues).toHaveLength(1)
    expect(error.issues[0]!.message).toMatch(/aliases \(\*name\) of this file expand to more than 100 copies/)
    expect(error.issues[0]!.line).toBe(2)
    expect(ms).toBeLessThan(500)
  })

  it("refuses an alias to an anchor that is not defined, at its line", () => {
    const text = onePipeline().replace("    sink:\n      type: test-segment\n      writeKey: k\n", "    sink: *segment\n")
    const error = parseError(text)
    expect(error.issues).toEqual([{ path: ["pipelines", 0, "sink"], line: 6, column: 11, message: "*segment refers to no anchor: define &segment on a value above it" }])
  })

  it("refuses an empty file, one of blank lines, and one of comments only", () => {
    for (const text of ["", "\n\n  \n", "# pipelines come later\n"]) {
      expect(parseError(text).message, JSON.stringify(text)).toBe(`${FILE}: the file is empty: it needs a top-level 'pipelines:' list`)
    }
  })

  it("reports the first 20 mistakes of a file, and how many more there are", () => {
    const text = yaml(["pipelines:", ...Array.from({ length: 30 }, (_, i) => `  - name: p${i}\n    colour: red`)])
    const error = parseError(text)
    expect(error.issues).toHaveLength(21)
    expect(error.issues[20]!.message).toMatch(/^and \d+ more mistakes: fix these first$/)
  })

  it("reports one syntax error, not each line an unclosed bracket upsets after it", () => {
    const text = yaml(["pipelines:", "  - name: p", "    source: { type: test-clickhouse, host: [h", "    sink:", "      type: test-segment", "      writeKey: k"])
    expect(parseError(text).issues).toHaveLength(1)
  })

  it("says a tab indents a line, and a duplicated key, in words", () => {
    expect(parseError("pipelines:\n\t- name: p\n").issues[0]!.message).toBe("a tab indents this line: YAML indents with spaces only")
    expect(parseError(onePipeline([], ["      host: a", "      host: b"])).issues[0]).toMatchObject({ line: 6, message: "duplicate key: it is already given in this block; keep one" })
  })
})

describe("PipelineFile.parse: durations carry a unit", () => {
  it("refuses a bare number, saying how to write it", () => {
    const text = onePipeline(["    pollInterval: 5"])
    expect(issueAt(parseError(text), "pipelines[0].pollInterval")).toEqual({
      path: ["pipelines", 0, "pollInterval"],
      line: 9,
      column: 19,
      message: "5 is a number without a unit: write 5s (or 5000ms), or 5ms if milliseconds were meant"
    })
  })

  it("refuses a poll interval that would spin, zero included, and accepts 100ms", () => {
    for (const written of ["0", "50ms", "0.05s"]) {
      expect(issueAt(parseError(onePipeline([`    pollInterval: ${written}`])), "pipelines[0].pollInterval").message, written).toMatch(
        /is shorter than 100ms: a pipeline that has caught up would query its source more than 10 times a second/
      )
    }
    expect(Duration.toMillis(parseOk(onePipeline(["    pollInterval: 100ms"])).pipelines[0]!.pollInterval)).toBe(100)
  })

  it("applies the same rule to a number from the environment, without showing it", () => {
    const error = parseError(onePipeline(["    pollInterval: ${POLL}"]), { POLL: "7" })
    expect(issueAt(error, "pipelines[0].pollInterval").message).toBe("the value is a number without a unit: write it with one, e.g. 30s or 500ms")
    expect(parseOk(onePipeline(["    pollInterval: ${POLL}"]), { POLL: "7s" }).pipelines[0]!.pollInterval).toEqual(Duration.seconds(7))
  })

  it("refuses retry settings that contradict each other, at the key to change", () => {
    const text = onePipeline(["    retry:", "      initialDelay: 1m", "      maxDelay: 30s"])
    expect(issueAt(parseError(text), "pipelines[0].retry.initialDelay")).toMatchObject({
      line: 10,
      message: "initialDelay (1m) is longer than maxDelay (30s): the first wait would already pass the cap; lower initialDelay, or raise maxDelay above it"
    })
    expect(issueAt(parseError(onePipeline(["    retry: { maxDelay: 100ms }"])), "pipelines[0].retry.maxDelay").line).toBe(9)
  })

  it("caps batch.size like the sources' batchSize, and inFlight, however the number is written", () => {
    const error = parseError(onePipeline(["    batch: { size: 1e12, inFlight: 1000 }"]))
    expect(issueAt(error, "pipelines[0].batch.size").message).toBe(
      "1000000000000 is more than 100000: a page is read and held in memory whole; write at most 100000 rows (default 5000)"
    )
    expect(issueAt(error, "pipelines[0].batch.inFlight").message).toMatch(/^1000 is more than 64: each batch in flight is held in memory/)
    expect(parseOk(onePipeline(["    batch: { size: 100000, inFlight: 64 }"])).pipelines[0]!.batch).toEqual({ size: 100_000, inFlight: 64 })
  })
})

describe("PipelineFile.parse: messages a person can act on", () => {
  const mistakes: ReadonlyArray<[string, string, RegExp]> = [
    ["a block where a number goes", onePipeline(["    batch: 5000"]), /^pipelines\[0\]\.batch: must be a block of keys \(size, inFlight\), not 5000$/],
    ["a list as the whole file", "- a\n", /^must be a block of keys \(state, cluster, server, pipelines\), not a list$/],
    ["text as the whole file", "hello\n", /^must be a block of keys \(state, cluster, server, pipelines\), not "hello"$/],
    ["a block where the list goes", "pipelines:\n  name: p\n", /^pipelines: must be a list of at least one item, not a block of keys$/],
    ["an empty list", "pipelines: []\n", /^pipelines: is an empty list: give at least one item$/],
    ["a word where a plugin block goes", onePipeline().replace(/ {4}source:\n.*\n.*\n/, "    source: test-clickhouse\n"), /^pipelines\[0\]\.source: must be a block of keys \(host, port, database, type\), not "test-clickhouse"$/],
    ["a mode that does not exist", onePipeline(["    mode: forever"]), /^pipelines\[0\]\.mode: must be one of "follow", "once", not "forever"$/],
    ["a plugin type missing", onePipeline().replace("      type: test-clickhouse\n", ""), /^pipelines\[0\]\.source\.type: is required: it says which source this is, one of: "test-clickhouse"$/],
    ["a negative count", onePipeline(["    retry: { maxRetries: -1 }"]), /^pipelines\[0\]\.retry\.maxRetries: -1 is not a whole number of at least 0$/],
    ["text where a number goes", onePipeline(["    batch: { inFlight: \"4\" }"]), /^pipelines\[0\]\.batch\.inFlight: must be a number, not "4"$/],
    ["a merge key", onePipeline(["    <<: { mode: once }"]), /^pipelines\[0\]\.<<: YAML merge keys \(<<\) are not supported: write the keys out, or alias the whole block/],
    ["a mistyped key", onePipeline(["    pollIntervall: 5s"]), /^pipelines\[0\]\.pollIntervall: unknown key \(did you mean "pollInterval"\?\); expected one of: "name" \| "batch"/],
    ["a key in the wrong case", onePipeline(["    batch: { inflight: 2 }"]), /^pipelines\[0\]\.batch\.inflight: unknown key \(did you mean "inFlight"\?\)/],
    ["a key like none", onePipeline(["    colour: red"]), /^pipelines\[0\]\.colour: unknown key; expected one of:/]
  ]

  it.each(mistakes)("%s: one sentence, no schema internals", (_, text, says) => {
    const error = parseError(text)
    expect(error.issues).toHaveLength(1)
    const [issue] = error.issues
    expect(`${issue!.path.length > 0 ? `${formatPath(issue!.path)}: ` : ""}${issue!.message}`).toMatch(says)
    expect(error.message).not.toMatch(/Encoded side|Type side|readonly|Transformation process|Expected undefined|parseAllDocuments|\{ \w+\??:/)
    expect(issue!.message.length).toBeLessThan(1024)
  })

  it("lists the known types of a union of plugins, for a value that is no block", () => {
    const error = parseError(onePipeline().replace(/ {4}source:\n.*\n.*\n/, "    source: 5\n"), {}, widePlugins)
    expect(error.issues.map((issue) => issue.message)).toEqual(['must be a block of keys with a type (one of "test-clickhouse", "test-mongo"), not 5'])
  })

  it("never quotes a block's content, whatever is wrong with it", () => {
    const error = parseError(onePipeline(["    batch: { size: [the-secret] }"]))
    expect(error.message).not.toContain("the-secret")
  })

  it("cuts a long value short", () => {
    const error = parseError(onePipeline(["    mode: " + "x".repeat(5000)]))
    expect(error.issues[0]!.message.length).toBeLessThan(200)
  })
})

describe("PipelineFile.parse: what two pipelines may not share", () => {
  const fileSink = defineSink({
    type: "test-file",
    description: "A file-like sink that claims its path",
    config: Schema.Struct({ path: Schema.String }),
    resources: (config, context) => [{ kind: "file", id: path.resolve(context.baseDir, config.path), path: ["path"], label: config.path }],
    make: notUsed
  })
  const registry: PipelineFile.PluginRegistry = { sources: [testSource], sinks: [fileSink] }
  const two = (first: string, second: string) =>
    yaml([
      "pipelines:",
      "  - name: flags",
      "    source: { type: test-clickhouse, host: h }",
      `    sink: { type: test-file, path: ${first} }`,
      "  - name: metrics",
      "    source: { type: test-clickhouse, host: h }",
      "    sink:",
      "      type: test-file",
      `      path: ${second}`
    ])

  it("refuses a second pipeline writing the file the first writes, at the second one's key", () => {
    const error = parseError(two("out/a.ndjson", "./out/../out/a.ndjson"), {}, registry)
    expect(error.issues).toEqual([
      {
        path: ["pipelines", 1, "sink", "path"],
        line: 9,
        column: 13,
        message: "./out/../out/a.ndjson is also written by pipelines[0] (flags); give each pipeline its own file"
      }
    ])
  })

  it("accepts pipelines writing files of their own", () => {
    expect(parseOk(two("out/a.ndjson", "out/b.ndjson"), {}, registry).pipelines).toHaveLength(2)
  })

  it("does not name a path that came from the environment", () => {
    const error = parseError(two("/data/secret-tenant.ndjson", "${OUT}"), { OUT: "/data/secret-tenant.ndjson" }, registry)
    expect(error.issues[0]!.message).toBe("this file is also written by pipelines[0] (flags); give each pipeline its own file")
    expectNoSecret(error, "secret-tenant")
  })
})

describe("PipelineFile.readText", () => {
  const withFile = <A>(name: string, contents: string | Uint8Array, use: (file: string) => Effect.Effect<A, unknown>) =>
    Effect.acquireUseRelease(
      Effect.promise(async () => {
        const dir = await fs.mkdtemp(path.join(os.tmpdir(), "featbit-export-readtext-"))
        await fs.writeFile(path.join(dir, name), contents)
        return dir
      }),
      (dir) => use(path.join(dir, name)),
      (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
    )
  const refusal = (name: string, contents: string | Uint8Array) =>
    withFile(name, contents, (file) => Effect.flip(PipelineFile.readText(file)).pipe(Effect.map((error) => error.issues)))

  it.live("reads a UTF-8 file, dropping a byte order mark", () =>
    withFile("p.yaml", "\uFEFFpipelines: []\n", (file) => PipelineFile.readText(file)).pipe(Effect.map((text) => expect(text).toBe("pipelines: []\n")))
  )

  it.live("refuses a folder", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(PipelineFile.readText(os.tmpdir()))
      expect(error.issues).toEqual([{ path: [], message: "is a folder, not a pipeline file: give the path of a .yaml file in it" }])
    })
  )

  it.live("refuses a file over 1 MB from its size, and a device that never ends after 1 MB", () =>
    Effect.gen(function* () {
      const issues = yield* refusal("big.yaml", "#".repeat(3 * 1024 * 1024))
      expect(issues[0]!.message).toBe("the file is 3.0 MB, more than a pipeline file may be (1 MB): give the pipeline file itself, not data")
      const endless = yield* Effect.flip(PipelineFile.readText("/dev/zero"))
      expect(endless.issues[0]!.message).toMatch(/^the file is over 1\.0 MB/)
    })
  )

  it.live("refuses bytes that are not UTF-8, saying which byte and line, without quoting them", () =>
    Effect.gen(function* () {
      const latin1 = Buffer.from("pipelines:\n  - name: caf\xe9\n", "latin1")
      const issues = yield* refusal("latin1.yaml", latin1)
      expect(issues).toEqual([
        { path: [], line: 2, column: 14, message: "byte 25 of the file is not UTF-8 (is it in another encoding, such as Latin-1 or Windows-1252?): save the file as UTF-8" }
      ])
    })
  )

  it.live("refuses UTF-16 and binary files", () =>
    Effect.gen(function* () {
      const utf16 = yield* refusal("utf16.yaml", Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("pipelines: []\n", "utf16le")]))
      expect(utf16[0]!.message).toBe("the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8")
      const png = yield* refusal("logo.png", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]))
      expect(png[0]!.message).toMatch(/^the file is not text/)
    })
  )

  it.live("refuses nesting and a second document before any parser builds them", () =>
    Effect.gen(function* () {
      expect((yield* refusal("deep.yaml", "a: " + "[".repeat(100_000)))[0]!.message).toMatch(/more than 64 levels deep/)
      expect((yield* refusal("two.yaml", "a: 1\n---\nb: 2\n"))[0]).toMatchObject({ line: 2, message: expect.stringMatching(/one document per file/) })
    })
  )
})

describe("state: a folder or a shared PostgreSQL, and cluster:", () => {
  const pipelinesPart = ["pipelines:", "  - name: a", "    source: { type: test-clickhouse, host: h }", "    sink: { type: test-segment, writeKey: wk-0123456789 }"]

  it("a postgres:// url, as text or as ${VAR}, is a shared state with the cluster's defaults; the folder stays for locks", () => {
    const parsed = parseOk(yaml(['state: "${STATE_URL}"', ...pipelinesPart]), { STATE_URL: "postgres://u:pw-in-url-123@db:5432/state" })
    expect(Redacted.value(parsed.sharedState!.url)).toBe("postgres://u:pw-in-url-123@db:5432/state")
    expect(parsed.sharedState).toMatchObject({ schema: "public", audit: false })
    expect(parsed.cluster).toMatchObject({ spread: "even", advisoryLocks: false })
    expect(Duration.toMillis(parsed.cluster!.lockExpiry)).toBe(6_000)
    expect(parsed.stateDir).toBe(path.resolve("/srv/featbit/.featbit-export"))
  })

  it("{ postgres: { url, schema, audit } } with cluster: settings", () => {
    const parsed = parseOk(yaml(["state: { postgres: { url: 'postgresql://db/state', schema: exports, audit: true } }", "cluster: { runner: r-1, lockExpiry: 10s, spread: hash }", ...pipelinesPart]))
    expect(parsed.sharedState).toMatchObject({ schema: "exports", audit: true })
    expect(parsed.cluster).toMatchObject({ runner: "r-1", spread: "hash" })
    expect(Duration.toMillis(parsed.cluster!.lockExpiry)).toBe(10_000)
  })

  it("a folder is no shared state", () => {
    const parsed = parseOk(yaml(["state: var/exports", ...pipelinesPart]))
    expect(parsed.sharedState).toBeUndefined()
    expect(parsed.cluster).toBeUndefined()
    expect(parsed.stateDir).toBe(path.resolve("/srv/featbit/var/exports"))
  })

  it("cluster: without a shared state says what to set, where", () => {
    const text = yaml(["state: var/exports", "cluster: { lockExpiry: 3s }", ...pipelinesPart])
    const issue = issueAt(parseError(text), "cluster")
    expect(issue.message).toBe("cluster: divides pipelines among runners sharing a PostgreSQL state; set state: postgres://... (or remove cluster:)")
    expect(issue).toMatchObject(where(text, 2, "cluster"))
  })

  it("a lock expiry under 100ms and a schema that is no identifier are refused", () => {
    const error = parseError(yaml(["state: { postgres: { url: 'postgres://db/s', schema: 'a;drop' } }", "cluster: { lockExpiry: 10ms }", ...pipelinesPart]))
    expect(error.message).toContain("lockExpiry must be at least 100ms")
    expect(error.message).toMatch(/state.postgres.schema/)
  })
})

describe("slices: a backfill on many runners", () => {
  const windowed = defineSource({ type: "test-windowed", description: "A source with startAt and endAt", config: Schema.Struct({ host: Schema.String, ...SourceFilters }), make: notUsed })
  const fileLike = defineSink({
    type: "test-file",
    description: "A sink that writes one local file",
    config: Schema.Struct({ path: Schema.String }),
    resources: (config) => [{ kind: "file", id: config.path, path: ["path"], label: config.path }],
    make: notUsed
  })
  const registry: PipelineFile.PluginRegistry = { sources: [windowed], sinks: [testSink, fileLike] }
  const file = (state: string, source: string, sink = "{ type: test-segment, writeKey: wk-0123456789 }") =>
    yaml([...(state === "" ? [] : [state]), "pipelines:", "  - name: backfill", `    source: ${source}`, `    sink: ${sink}`, "    slices: 4"])
  const shared = "state: postgres://db/state"
  const window = "{ type: test-windowed, host: h, startAt: 2024-01-01T00:00:00Z, endAt: 2024-05-01T00:00:00Z }"

  it("over startAt..endAt, with a shared state and a sink many runners can write to", () => {
    expect(parseOk(file(shared, window), {}, registry).pipelines[0]!.slices).toBe(4)
  })

  it.each([
    ["without a shared state", file("", window), "slices: 4 runs the slices on runners sharing a PostgreSQL state; set state: postgres://... (or remove slices)"],
    [
      "without endAt",
      file(shared, "{ type: test-windowed, host: h, startAt: 2024-01-01T00:00:00Z }"),
      "slices: 4 splits the source's startAt..endAt into 4 windows; set both in source (the backfill's first instant and where the live export takes over)"
    ],
    [
      "into one local file",
      file(shared, window, "{ type: test-file, path: out.ndjson }"),
      "slices: 4 writes 5 parts at once from several runners, and sink test-file writes out.ndjson, which has one writer; use a sink many runners can write to (segment, eventhub), or remove slices"
    ]
  ])("%s: says what to set, at slices", (_, text, message) => {
    const issue = issueAt(parseError(text, {}, registry), "pipelines[0].slices")
    expect(issue.message).toBe(message)
    expect(issue).toMatchObject(where(text, text.split("\n").findIndex((line) => line.includes("slices:")) + 1, "slices"))
  })
})
