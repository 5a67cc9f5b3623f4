import { ConfigError } from "@featbit-export/core"

/** A command line, parsed. Every command takes at most one pipeline file. */
export interface Args {
  readonly command: string | undefined
  readonly file: string | undefined
  readonly once: boolean
  readonly pipelines: ReadonlyArray<string>
  readonly stateDir: string | undefined
  readonly limit: number
  readonly reset: boolean
  readonly all: boolean
  readonly out: string | undefined
  readonly help: boolean
  readonly version: boolean
  /** Positional words after the command (`plugin new sink <name>`). */
  readonly operands: ReadonlyArray<string>
  readonly dir: string | undefined
  /** `--log-format text|json`; undefined: FEATBIT_EXPORT_LOG_FORMAT, else by the terminal. */
  readonly logFormat: "text" | "json" | undefined
}

const valued = new Set(["--pipeline", "-p", "--state-dir", "--limit", "-n", "--out", "-o", "--dir", "--log-format"])
const flags = new Set(["--once", "--reset", "--all", "--help", "-h", "--version", "-V"])

export class UsageError extends ConfigError {}

const usageError = (message: string) => new UsageError({ file: "command line", issues: [{ path: [], message }] })

/** Parses argv (without node and the script). Fails with a `UsageError` that says what is wrong. */
export const parseArgs = (argv: ReadonlyArray<string>): Args | UsageError => {
  const positional: Array<string> = []
  const pipelines: Array<string> = []
  const values = new Map<string, string>()
  const seen = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!
    const [name, inline] = raw.startsWith("--") && raw.includes("=") ? [raw.slice(0, raw.indexOf("=")), raw.slice(raw.indexOf("=") + 1)] : [raw, undefined]
    if (valued.has(name)) {
      const value = inline ?? argv[++i]
      if (value === undefined || (inline === undefined && value.startsWith("-"))) return usageError(`${name} needs a value`)
      if (name === "--pipeline" || name === "-p") pipelines.push(value)
      else values.set(name, value)
    } else if (flags.has(name)) {
      if (inline !== undefined) return usageError(`${name} takes no value`)
      seen.add(name)
    } else if (name.startsWith("-") && name !== "-") {
      return usageError(`unknown option ${name} (see featbit-export --help)`)
    } else {
      positional.push(raw)
    }
  }
  if (positional.length > 2 && positional[0] !== "plugin") return usageError(`unexpected argument ${positional[2]}`)
  const limitText = values.get("--limit") ?? values.get("-n")
  const limit = limitText === undefined ? 10 : Number(limitText)
  if (!Number.isInteger(limit) || limit < 1) return usageError(`--limit must be a whole number of at least 1, not ${limitText}`)
  const logFormat = values.get("--log-format")
  if (logFormat !== undefined && logFormat !== "text" && logFormat !== "json") return usageError(`--log-format must be text or json, not ${logFormat}`)
  return {
    logFormat,
    command: positional[0],
    file: positional[0] === "plugin" ? undefined : positional[1],
    operands: positional.slice(1),
    dir: values.get("--dir"),
    once: seen.has("--once"),
    pipelines,
    stateDir: values.get("--state-dir"),
    limit,
    reset: seen.has("--reset"),
    all: seen.has("--all"),
    out: values.get("--out") ?? values.get("-o"),
    help: seen.has("--help") || seen.has("-h"),
    version: seen.has("--version") || seen.has("-V")
  }
}

export const usage = `featbit-export: export FeatBit flag evaluations and experiment metrics

Usage:
  featbit-export run <file> [--once] [--pipeline NAME]... [--state-dir DIR]
      Run the pipelines of a file. Follows new events until stopped (Ctrl-C commits what was
      acknowledged and exits); --once catches up and exits.
  featbit-export validate <file>
      Check a pipeline file without connecting anywhere; prints the pipelines, secrets redacted.
  featbit-export check <file> [--pipeline NAME]...
      Connect to every source and sink and say what works and what is wrong.
  featbit-export preview <file> [--pipeline NAME] [--limit N]
      Print the next N events as the sink would receive them (default 10); writes nothing.
  featbit-export checkpoints <file> [--pipeline NAME]... [--reset] [--all]
      Show each pipeline's committed cursor; --reset forgets it (needs --pipeline or --all).
  featbit-export schema [--out FILE]
      Write the JSON Schema of pipeline files, for editors.
  featbit-export plugin new sink <name> [--dir DIR]
      Write a working sink plugin package (config schema, README, a conformance test) to start from.

Every command takes --log-format text|json (default: text on a terminal, JSON lines otherwise; or set
FEATBIT_EXPORT_LOG_FORMAT). featbit-export <command> --help explains one command.

Exit codes: 0 done, 1 a pipeline or a connection failed, 2 invalid configuration or command line.
`

/** `featbit-export <command> --help`: what one command does and takes. */
export const commandUsage: Readonly<Record<string, string>> = {
  run: `featbit-export run <file> [--once] [--pipeline NAME]... [--state-dir DIR]

Runs the pipelines of a file side by side. Each reads its source after its committed cursor, writes to its
sink, and commits the cursor once the sink has acknowledged a batch. It follows new events until stopped:
the first Ctrl-C (or SIGTERM) finishes the batches in flight, commits them and exits 0; a second abandons them
(they are delivered again next time).

  --once              catch up to the horizon (the store's clock minus lag) and exit
  --pipeline NAME     run only this pipeline (repeat for several)
  --state-dir DIR     keep checkpoints and dead letters here instead of the file's state folder

On a terminal it shows a progress line; otherwise one JSON record per line on stderr.
Exit codes: 0 done or stopped, 1 a pipeline failed, 2 invalid configuration or command line.
`,
  validate: `featbit-export validate <file>

Decodes the pipeline file without connecting anywhere, and prints its pipelines with every default filled in
and every secret redacted. Each mistake is reported with its file, line, column and key.

Exit codes: 0 valid, 2 invalid.
`,
  check: `featbit-export check <file> [--pipeline NAME]...

Connects to every source and sink of the file (or of the named pipelines) and says what works (the server, the
credentials, the table, the index) and what to fix. Reads and writes nothing but probes.

Exit codes: 0 everything works, 1 something does not, 2 invalid configuration.
`,
  preview: `featbit-export preview <file> [--pipeline NAME] [--limit N]

Prints the next N events (default 10) of a pipeline on stdout as NDJSON, as its sink would receive them,
starting after the committed cursor. Writes nothing and commits nothing.

Exit codes: 0 done, 1 the source failed, 2 invalid configuration.
`,
  checkpoints: `featbit-export checkpoints <file> [--pipeline NAME]... [--reset] [--all]

Shows each pipeline's committed cursor and totals. --reset forgets a checkpoint, so the next run starts from
startAt (or the oldest row): it needs --pipeline NAME, or --all for every pipeline of the file.

Exit codes: 0 done, 1 a checkpoint could not be read or removed, 2 invalid configuration or command line.
`,
  schema: `featbit-export schema [--out FILE]

Writes the JSON Schema of pipeline files (stdout, or FILE), for editors: add
# yaml-language-server: $schema=<FILE> at the top of a pipeline file.
`,
  plugin: `featbit-export plugin new sink <name> [--dir DIR]

Writes a working sink plugin package to start from: its config schema, a README, and the test kit's
conformance suite already passing. Use it in a pipeline file with sink: { use: "<package name>", ... }.
`
}
