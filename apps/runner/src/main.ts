import { createRequire } from "node:module"
import { type ConfigError, type PipelineFile, Secrets } from "@featbit-export/core"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { type Args, commandUsage, parseArgs, usage } from "./Args.js"
import { checkCommand } from "./commands/check.js"
import { checkpointsCommand } from "./commands/checkpoints.js"
import { previewCommand } from "./commands/preview.js"
import { runCommand } from "./commands/run.js"
import { pluginCommand } from "./commands/plugin.js"
import { schemaCommand } from "./commands/schema.js"
import { validateCommand } from "./commands/validate.js"
import { CurrentOutput, type Output, makeOutput } from "./Output.js"
import { builtins } from "./Plugins.js"
import { communityRegistry } from "./CommunityPlugins.js"

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_CONFIG = 2

type Command = (args: Args, registry: PipelineFile.PluginRegistry, output: Output) => Effect.Effect<number, ConfigError>

const commands: Record<string, Command> = {
  run: runCommand,
  validate: validateCommand,
  check: checkCommand,
  preview: previewCommand,
  checkpoints: checkpointsCommand,
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
  const output = makeOutput()
  const args = parseArgs(argv)
  if (!("command" in args)) {
    process.stderr.write(`featbit-export: ${args.issues[0]!.message}\n\n${usage}`)
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
    process.stderr.write(`featbit-export: unknown command ${JSON.stringify(args.command)}\n\n${usage}`)
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
  const scrub = output.scrubber.scrub
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "Some") {
    process.stderr.write(`${scrub(failure.value.message)}\n`)
    return EXIT_CONFIG
  }
  if (Cause.isInterruptedOnly(exit.cause)) return EXIT_FAILURE
  const defect = Cause.squash(exit.cause)
  process.stderr.write(scrub(`featbit-export: internal error: ${defect instanceof Error ? defect.message : String(defect)}`) + "\n")
  if (process.env["FEATBIT_EXPORT_DEBUG"] === "1") process.stderr.write(`${scrub(Cause.pretty(exit.cause))}\n`)
  else process.stderr.write("(run with FEATBIT_EXPORT_DEBUG=1 for details, and please report it)\n")
  return EXIT_FAILURE
}
