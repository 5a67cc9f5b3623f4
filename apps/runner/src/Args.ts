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
  /** `run --fail-fast`: the first pipeline that fails stops the others (otherwise they go on). */
  readonly failFast: boolean
  /** `--listen HOST:PORT`: serve /metrics, /healthz, /readyz and /status there. */
  readonly listen: string | undefined
  /** `dead-letters --show N`: print the first N records. */
  readonly show: number | undefined
  /** `dead-letters --replay`: send the sink-stage letters again. */
  readonly replay: boolean
  /** `dead-letters --export FILE`: write the source-stage rows to FILE. */
  readonly exportTo: string | undefined
  /** `plugin new --registry`: depend on the published @featbit-export packages, not a checkout's tarballs. */
  readonly registry: boolean
}

const valued = new Set(["--pipeline", "-p", "--state-dir", "--limit", "-n", "--out", "-o", "--dir", "--log-format", "--show", "--export", "--listen"])
const flags = new Set(["--once", "--reset", "--all", "--help", "-h", "--version", "-V", "--replay", "--fail-fast", "--registry"])

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
  const showText = values.get("--show")
  const show = showText === undefined ? undefined : Number(showText)
  if (show !== undefined && (!Number.isInteger(show) || show < 1)) return usageError(`--show must be a whole number of at least 1, not ${showText}`)
  return {
    logFormat,
    failFast: seen.has("--fail-fast"),
    listen: values.get("--listen"),
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
    version: seen.has("--version") || seen.has("-V"),
    show,
    replay: seen.has("--replay"),
    exportTo: values.get("--export"),
    registry: seen.has("--registry")
  }
}

export const usage = `featbit-export: export FeatBit flag evaluations and experiment metrics

Usage:
  featbit-export run <file> [--once] [--pipeline NAME]... [--state-dir DIR] [--listen HOST:PORT] [--fail-fast]
      Run the pipelines of a file. Follows new events until stopped (Ctrl-C commits what was
      acknowledged and exits); --once catches up and exits. --listen serves /metrics, /healthz,
      /readyz and /status.
  featbit-export validate <file>
      Check a pipeline file without connecting anywhere; prints the pipelines, secrets redacted.
  featbit-export test <file> [--pipeline NAME]...
      Run the pipelines' tests: (input events and what the filter, transform and sink map must make of them).
  featbit-export check <file> [--pipeline NAME]...
      Connect to every source and sink and say what works and what is wrong.
  featbit-export preview <file> [--pipeline NAME] [--limit N]
      Print the next N events as the sink would receive them (default 10); writes nothing.
  featbit-export checkpoints <file> [--pipeline NAME]... [--reset] [--all]
      Show each pipeline's committed cursor; --reset forgets it (needs --pipeline or --all).
  featbit-export dead-letters <file> [--pipeline NAME]... [--show N | --replay [--all] | --export FILE]
      Count each pipeline's dead letters by stage and reason; show them, send the refused events again,
      or export the rows the source could not decode.
  featbit-export schema [--out FILE]
      Write the JSON Schema of pipeline files, for editors.
  featbit-export plugin new sink|source <name> [--dir DIR] [--registry]
      Write a working sink or source plugin package (config schema, README, a conformance test) to start from.

Every command takes --log-format text|json (default: text on a terminal, JSON lines otherwise; or set
FEATBIT_EXPORT_LOG_FORMAT). featbit-export <command> --help explains one command.

Exit codes: 0 done, 1 a pipeline or a connection failed, 2 invalid configuration or command line.
`

/** `featbit-export <command> --help`: what one command does and takes. */
export const commandUsage: Readonly<Record<string, string>> = {
  run: `featbit-export run <file> [--once] [--pipeline NAME]... [--state-dir DIR] [--listen HOST:PORT] [--fail-fast]

Runs the pipelines of a file side by side. Each reads its source after its committed cursor, writes to its
sink, and commits the cursor once the sink has acknowledged a batch. It follows new events until stopped:
the first Ctrl-C (or SIGTERM) finishes the requests in flight (a wait before a retry is cut short), commits
what was acknowledged and exits 0; a second abandons them (they are delivered again next time).
In follow mode a pipeline that gave up on a passing failure (its retries used up) is started again after
retry.maxDelay, doubled each time up to 5 minutes; one that failed for a reason a person must fix stops
alone, and the others go on (exit code 1 at the end).

  --once              catch up to the horizon (the store's clock minus lag) and exit
  --pipeline NAME     run only this pipeline (repeat for several)
  --state-dir DIR     keep checkpoints and dead letters here instead of the file's state folder
  --listen HOST:PORT  serve /metrics (Prometheus), /healthz, /readyz and /status there (a port alone:
                      loopback); or server: { listen: ... } in the file
  --fail-fast         the first pipeline that fails stops the others (as --once always does)

On a terminal it shows a progress line; otherwise one JSON record per line on stderr.
Exit codes: 0 done or stopped, 1 a pipeline failed, 2 invalid configuration or command line.
`,
  validate: `featbit-export validate <file>

Decodes the pipeline file without connecting anywhere, and prints its pipelines with every default filled in
and every secret redacted. Each mistake is reported with its file, line, column and key.

Exit codes: 0 valid, 2 invalid.
`,
  test: `featbit-export test <file> [--pipeline NAME]...

Runs each pipeline's tests: entries without connecting anywhere: the input event (fields left out take an
example event's values) goes through the pipeline's filter, transform and sink map, and the result is compared
with expect: (only the fields it names; expect.sink holds the sink's mapped fields) or filtered: true.
A mismatch prints each differing field, expected and got.

Exit codes: 0 every test passed (or there are none), 1 a test failed, 2 invalid configuration.
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
  "dead-letters": `featbit-export dead-letters <file> [--pipeline NAME]... [--show N | --replay [--all] | --export FILE]

Reads each pipeline's dead-letter file (<state>/<pipeline>.dead-letter.ndjson) and counts its letters by stage
(source: rows it could not decode; sink: events the destination refused) and by reason, most frequent first.

  --show N            print the first N letters on stdout, as stored (NDJSON)
  --replay            send the sink-stage letters through the pipeline's sink again, in batches: the delivered
                      ones leave the file, the ones refused again stay with their new reason; source-stage
                      letters stay as they are. Needs --pipeline NAME, or --all. Takes the pipeline's lock, so
                      it never runs beside a run of the same pipeline; killed at any moment, it loses nothing.
  --export FILE       write the rows the source could not decode, as stored, to FILE (NDJSON); one pipeline

Exit codes: 0 done, 1 the sink failed or the pipeline is running, 2 invalid configuration or command line.
`,
  schema: `featbit-export schema [--out FILE]

Writes the JSON Schema of pipeline files (stdout, or FILE), for editors: add
# yaml-language-server: $schema=<FILE> at the top of a pipeline file.
`,
  plugin: `featbit-export plugin new sink|source <name> [--dir DIR] [--registry]

Writes a working sink or source plugin package to start from: its config schema, a README, and the test kit's
conformance suite already passing. Use it in a pipeline file with sink: { use: "<package name>", ... } (or
source:). Run from a checkout of featbit-export, the package installs @featbit-export/core and testkit from
tarballs of the checkout packed into its vendor/ folder, as they may not be on the npm registry yet.

  --dir DIR           write it here (default: ./featbit-export-<sink|source>-<name>)
  --registry          depend on the published @featbit-export packages from the npm registry instead
`
}
