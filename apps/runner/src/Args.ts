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
}

const valued = new Set(["--pipeline", "-p", "--state-dir", "--limit", "-n", "--out", "-o", "--dir"])
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
  return {
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

Exit codes: 0 done, 1 a pipeline or a connection failed, 2 invalid configuration or command line.
`
