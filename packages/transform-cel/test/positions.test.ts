import { type AnySinkPlugin, type AnySourcePlugin, PipelineFile } from "@featbit-export/core"
import { FileSink } from "@featbit-export/sink-file"
import { GenerateSource } from "@featbit-export/source-generate"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { celCompiler } from "../src/index.js"

const registry: PipelineFile.PluginRegistry = {
  sources: [GenerateSource as AnySourcePlugin],
  sinks: [FileSink as AnySinkPlugin],
  transforms: celCompiler
}

/**
 * A pipeline file with `@@` where the mistake lies: the marker is taken out before the file is parsed, and
 * the error must name the line and column it stood at. cel-js reports character offsets inside the
 * expression's value; the value is not a slice of the file (quotes, escapes, block indentation, folding).
 */
const located = (marked: string) => {
  const at = marked.indexOf("@@")
  const text = marked.replace("@@", "")
  const before = text.slice(0, at).split(/\r?\n/)
  return { text, line: before.length, column: before.at(-1)!.length + 1 }
}

const pipeline = (keys: string) => `pipelines:
  - name: p
    source: { type: generate, count: 10 }
    sink: { type: file, path: out.ndjson }
${keys}`

const corpus: ReadonlyArray<readonly [string, string, RegExp]> = [
  ["a plain scalar", "    filter: event == 'FlagValue' && @@nope", /Unknown variable: nope/],
  ["a single-quoted scalar with a doubled quote before the mistake", "    filter: 'event == ''FlagValue'' && @@flagKey.startsWith(1)'", /startsWith\(int\)/],
  ["a double-quoted scalar with escapes before the mistake", '    filter: "event == \\"FlagValue\\" && \\u0066lagKey == \\"a\\" && @@nope"', /Unknown variable: nope/],
  ["a double-quoted scalar broken over lines by an escaped line break", '    filter: "event == \\"FlagValue\\" && \\\n      sendToExperiment && @@nope"', /Unknown variable: nope/],
  ["a literal block, the mistake on its third line", "    filter: |\n      event == \"FlagValue\" &&\n        sendToExperiment &&\n        @@flagKey.startsWith(1)", /startsWith\(int\)/],
  ["a folded block, the mistake on its second line", "    filter: >\n      event == \"FlagValue\" &&\n      sendToExperiment && @@nope", /Unknown variable: nope/],
  ["a folded block with a kept trailing newline", "    filter: >+\n      event == \"FlagValue\"\n      && @@nope\n\n", /Unknown variable: nope/],
  // A type error spans the whole operation: it starts where the operation does.
  ["a key of set: in a flow map", "    transform: { set: { plan: '@@tags.plan + 1' } }", /no such overload/],
  ["a block scalar of set:, indented deeper", "    transform:\n      set:\n        properties.plan: |-\n          tags.?plan\n            .orValue(\n              @@nope)", /Unknown variable: nope/],
  ["an unterminated string", "    filter: '@@\"abc'", /Unterminated string/],
  ["an expression that ends too soon", "    filter: 'flagKey +@@'", /Unexpected token: EOF/],
  ["a file with CRLF line ends", "    filter: |\r\n      event == \"FlagValue\" &&\r\n      @@nope", /Unknown variable: nope/]
]

describe("a mistake inside an expression is placed at its line and column in the pipeline file", () => {
  it.each(corpus)("%s", (_, keys, message) => {
    const { text, line, column } = located(pipeline(keys))
    const result = PipelineFile.parse(text, "pipeline.yaml", registry, { env: {} })
    if (Either.isRight(result)) throw new Error("the file loaded, but should not have")
    const [issue, ...more] = result.left.issues
    expect(more).toEqual([])
    expect(issue!.message).toMatch(message)
    expect({ line: issue!.line, column: issue!.column }).toEqual({ line, column })
  })

  it("loads a file whose expressions are right, with them compiled", () => {
    const result = PipelineFile.parse(
      pipeline("    filter: >\n      event == \"FlagValue\" &&\n      sendToExperiment\n    transform: { set: { properties.plan: 'tags.?plan.orValue(\"free\")' }, drop: [user.name] }"),
      "pipeline.yaml",
      registry,
      { env: {} }
    )
    if (Either.isLeft(result)) throw new Error(JSON.stringify(result.left.issues))
    expect(result.right.pipelines[0]!.transformStep?.expressions).toEqual([
      { at: "filter", source: 'event == "FlagValue" && sendToExperiment\n', type: "bool" },
      { at: "transform.set.properties.plan", source: 'tags.?plan.orValue("free")', type: "string" }
    ])
  })

  it("refuses an expression longer than the limit, at its key, before compiling it", () => {
    const result = PipelineFile.parse(pipeline(`    filter: '${"true && ".repeat(600)}true'`), "pipeline.yaml", registry, { env: {} })
    if (Either.isRight(result)) throw new Error("the file loaded, but should not have")
    expect(result.left.issues[0]!.message).toMatch(/more than 4000 characters/)
    expect(result.left.issues[0]!.line).toBe(5)
  })
})
