import { createRequire } from "node:module"
import { type ConfigError, type PipelineFile, Secrets, formatPath } from "@featbit-export/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { type Args, commandUsage, parseArgs, usage } from "./Args.js"
import { checkCommand } from "./commands/check.js"
import { checkpointsCommand } from "./commands/checkpoints.js"
import { deadLettersCommand } from "./commands/deadLetters.js"
import { previewCommand } from "./commands/preview.js"
import { runCommand } from "./commands/run.js"
import { pluginCommand } from "./commands/plugin.js"
import { schemaCommand } from "./commands/schema.js"
import { testCommand } from "./commands/test.js"
import { validateCommand } from "./commands/validate.js"
import { CurrentOutput, type Output, chooseFormat, makeOutput } from "./Output.js"
import { builtins } from "./Plugins.js"
import { communityRegistry } from "./CommunityPlugins.js"

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_CONFIG = 2

type Command = (args: Args, registry: PipelineFile.PluginRegistry, output: Output) => Effect.Effect<number, ConfigError>

const commands: Record<string, Command> = {
  run: runCommand,
  validate: validateCommand,
  test: testCommand,
  check: checkCommand,
  preview: previewCommand,
  checkpoints: checkpointsCommand,
  "dead-letters": deadLettersCommand,
  schema: schemaCommand,
  plugin: pluginCommand
}

const version = (): string => (createRequire(import.meta.url)("../package.json") as { version: string }).version

/**
 * Runs the CLI and resolves to its exit code: 0 done, 1 a runtime failure, 2 invalid configuration. Never
 * prints a stack trace for a mistake a person can fix; unexpected defects print one only with
 * FEATBIT_EXPORT_DEBUG=1.
 */
export const main = async (argv: ReadonlyArray<string>, registry: PipelineFile.PluginRegistry = builtins): Promise<number> => {
  const args = parseArgs(argv)
  // A command line that does not parse still says how its error should be written.
  const askedFormat = "command" in args ? args.logFormat : argv.flatMap((arg, i) => (arg === "--log-format" ? [argv[i + 1] ?? ""] : arg.startsWith("--log-format=") ? [arg.slice(13)] : []))[0]
  const output = makeOutput(process.stderr, chooseFormat(askedFormat))
  if (!("command" in args)) {
    const message = args.issues[0]!.message
    if (output.format === "text") process.stderr.write(`featbit-export: ${message}\n\n${usage}`)
    else output.error(`featbit-export: ${message}`)
    return EXIT_CONFIG
  }
  if (args.version) {
    process.stdout.write(`${version()}\n`)
    return EXIT_OK
  }
  if (args.help || args.command === undefined || args.command === "help") {
    // `<command> --help` and `help <command>` show that command's own text; anything else the overview.
    const asked = args.command === "help" ? args.operands[0] : args.command
    const own = asked === undefined ? undefined : commandUsage[asked]
    process.stdout.write(own === undefined ? usage : own.endsWith("\n") ? own : `${own}\n`)
    return args.help || args.command === "help" ? EXIT_OK : EXIT_CONFIG
  }
  const command = commands[args.command]
  if (command === undefined) {
    const message = `featbit-export: unknown command ${JSON.stringify(args.command)} (see featbit-export --help)`
    if (output.format === "text") process.stderr.write(`featbit-export: unknown command ${JSON.stringify(args.command)}\n\n${usage}`)
    else output.error(message)
    return EXIT_CONFIG
  }
  const level = process.env["FEATBIT_EXPORT_LOG_LEVEL"]?.toLowerCase() === "debug" ? LogLevel.Debug : LogLevel.Info
  const exit = await Effect.runPromiseExit(
    communityRegistry(args.command === "schema" || args.command === "plugin" ? undefined : args.file, registry).pipe(
      Effect.flatMap((withCommunity) => command(args, withCommunity, output)),
      Effect.provide(Logger.replace(Logger.defaultLogger, output.logger)),
      // Loading the file teaches the output its secrets; the stores scrub with the same scrubber.
      Effect.provideService(CurrentOutput, output),
      Effect.provideService(Secrets.SecretScrubber, output.scrubber),
      Logger.withMinimumLogLevel(level)
    )
  )
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") {
    // One record off a terminal, with each issue's place, so a log collector need not parse the text.
    const error = failure.value
    output.error(error.message, { file: error.file, issues: error.issues.map((issue) => ({ ...issue, path: formatPath(issue.path) })) })
    return EXIT_CONFIG
  }
  if (Cause.isInterruptedOnly(exit.cause)) return EXIT_FAILURE
  const defect = Cause.squash(exit.cause)
  const debug = process.env["FEATBIT_EXPORT_DEBUG"] === "1"
  output.error(
    `featbit-export: internal error: ${defect instanceof Error ? defect.message : String(defect)}\n` +
      (debug ? Cause.pretty(exit.cause) : "(run with FEATBIT_EXPORT_DEBUG=1 for details, and please report it)")
  )
  return EXIT_FAILURE
}
