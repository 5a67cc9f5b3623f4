import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import {
  CheckpointError,
  ConfigError,
  DeadLetterError,
  formatConfigIssues,
  formatPath,
  PipelineError,
  SinkError,
  SourceError
} from "../src/Errors.js"

describe("formatPath", () => {
  it("writes keys with dots and indexes with brackets", () => {
    expect(formatPath(["pipelines", 0, "sink", "writeKey"])).toBe("pipelines[0].sink.writeKey")
    expect(formatPath(["pipelines", 12])).toBe("pipelines[12]")
    expect(formatPath([])).toBe("")
  })
})

describe("ConfigError", () => {
  it("its message names the file, line, column and key path of every issue", () => {
    const error = new ConfigError({
      file: "pipelines.yaml",
      issues: [
        { path: ["pipelines", 0, "batch", "size"], message: "Expected number", line: 7, column: 13 },
        { path: ["pipelines", 1, "name"], message: "is required but missing", line: 9 },
        { path: [], message: "the file is empty" }
      ]
    })
    const lines = error.message.split("\n")
    expect(lines).toHaveLength(3)
    expect(lines[0]).toBe("pipelines.yaml:7:13: pipelines[0].batch.size: Expected number")
    expect(lines[1]).toMatch(/^pipelines\.yaml:9(:\d+)?: pipelines\[1\]\.name: is required but missing$/)
    expect(lines[2]).toBe("pipelines.yaml: the file is empty")
    expect(formatConfigIssues("pipelines.yaml", error.issues)).toBe(error.message)
    expect(error._tag).toBe("ConfigError")
  })
})

describe("SourceError and SinkError", () => {
  it("transient errors are retryable, fatal ones are not", () => {
    expect(SourceError.transient("clickhouse", "connection reset").retryable).toBe(true)
    expect(SourceError.fatal("clickhouse", "unknown table featbit.events").retryable).toBe(false)
    expect(SinkError.transient("segment", "HTTP 503").retryable).toBe(true)
    expect(SinkError.fatal("segment", "HTTP 401: check the write key").retryable).toBe(false)
  })

  it("a transient sink error carries Retry-After and the cause", () => {
    const cause = new Error("429")
    const error = SinkError.transient("segment", "HTTP 429", { retryAfter: Duration.seconds(4), cause })
    expect(Duration.toMillis(error.retryAfter!)).toBe(4000)
    expect(error.cause).toBe(cause)
    expect(error.plugin).toBe("segment")
  })
})

describe("PipelineError", () => {
  it("says which pipeline stopped and which part failed", () => {
    const cases = [
      [SourceError.fatal("clickhouse", "unknown table"), /^pipeline flags: source clickhouse: unknown table$/],
      [SinkError.fatal("segment", "bad write key"), /^pipeline flags: sink segment: bad write key$/],
      [new CheckpointError({ message: "disk full" }), /^pipeline flags: checkpoint store: disk full$/],
      [new DeadLetterError({ message: "disk full" }), /^pipeline flags: dead-letter file: disk full$/]
    ] as const
    for (const [reason, expected] of cases) {
      expect(new PipelineError({ pipeline: "flags", reason }).message).toMatch(expected)
    }
  })
})
