import type { PipelineFile, PipelineProgress } from "@featbit-export/core"
import { Cursor, Secrets, formatPath } from "@featbit-export/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"

/** How lines are written: for a person (`text`) or one JSON object per line, for log collectors (`json`). */
export type LogFormat = "text" | "json"

/**
 * Where a person (or a log collector) sees what the runner does. On a terminal: readable lines and one
 * progress line redrawn in place. Otherwise: one JSON object per line, for log pipelines; `--log-format`
 * (or FEATBIT_EXPORT_LOG_FORMAT) chooses either anywhere, and every line of a run follows the choice,
 * configuration errors included. Everything goes to
 * stderr, so stdout carries only data (`preview`, `schema`). Everything written passes the scrubber of the
 * loaded pipeline file first.
 */
export interface Output {
  readonly format: LogFormat
  /** A terminal with text: the progress line is redrawn in place. */
  readonly interactive: boolean
  readonly logger: Logger.Logger<unknown, void>
  /** Writes one human line, or one JSON record in the json format. */
  readonly report: (text: string, record: Record<string, unknown>) => void
  /** Writes an error that ends the command: its text, or a JSON record with `fields` beside the message. */
  readonly error: (text: string, fields?: Record<string, unknown>) => void
  readonly setStatus: (line: string | undefined) => void
  /** Removes the loaded file's secrets, in every encoding, from text written elsewhere (stdout). */
  readonly scrubber: Secrets.Scrubber
  /**
   * From now on, scrubs the secrets of this pipeline file from everything; returns where the secrets too
   * short to scrub are (`pipelines[0].source.password`).
   */
  readonly learnSecrets: (file: PipelineFile.PipelineFile) => ReadonlyArray<string>
}

/** The output of the command being run, for the steps that learn what it must scrub (loading the file). */
export class CurrentOutput extends Context.Tag("@featbit-export/runner/CurrentOutput")<CurrentOutput, Output>() {}

/**
 * Teaches the current output (when there is one) the secrets of a loaded file, and warns about the ones too
 * short to scrub: they are never printed by the runner, but what a far end echoes of them is left as it is.
 */
export const learnSecrets = (file: PipelineFile.PipelineFile): Effect.Effect<void> =>
  Effect.flatMap(Effect.serviceOption(CurrentOutput), (output) =>
    Effect.forEach(
      Option.match(output, { onNone: () => [], onSome: (current) => current.learnSecrets(file) }),
      (where) =>
        Effect.logWarning(
          `${where} is shorter than ${Secrets.MIN_LENGTH} characters: it is never printed, but it is too short to be removed from what a server or proxy echoes back (it would mask ordinary text); use a longer secret`
        ),
      { discard: true }
    )
  )

const number = new Intl.NumberFormat("en-US")
export const formatCount = (n: number): string => number.format(Math.round(n))

/** The format asked for (`--log-format`, else FEATBIT_EXPORT_LOG_FORMAT), else text on a terminal and json off one. */
export const chooseFormat = (asked: string | undefined, stream: NodeJS.WriteStream = process.stderr): LogFormat => {
  const wanted = (asked ?? process.env["FEATBIT_EXPORT_LOG_FORMAT"] ?? "").trim().toLowerCase()
  return wanted === "text" || wanted === "json" ? wanted : stream.isTTY === true ? "text" : "json"
}

export const makeOutput = (stream: NodeJS.WriteStream = process.stderr, format: LogFormat = chooseFormat(undefined, stream)): Output => {
  const interactive = format === "text" && stream.isTTY === true
  let status: string | undefined
  let secrets: Secrets.Scrubber = Secrets.none
  // A live view: stores made before the file was loaded scrub with what was learnt since.
  const scrubber: Secrets.Scrubber = { scrub: (text) => secrets.scrub(text), scrubValue: (value) => secrets.scrubValue(value) }
  const clear = () => {
    if (interactive && status !== undefined) stream.write("\r\x1b[2K")
  }
  const redraw = () => {
    if (interactive && status !== undefined) stream.write(status)
  }
  const writeLine = (line: string) => {
    clear()
    stream.write(secrets.scrub(line) + "\n")
    redraw()
  }
  // Values are scrubbed before they are serialised: a secret's JSON-escaped form would be escaped again.
  const writeRecord = (record: Record<string, unknown>) => writeLine(JSON.stringify(secrets.scrubValue(record)))
  const logger = Logger.make<unknown, void>(({ logLevel, message, annotations, date }) => {
    const text = (Array.isArray(message) ? message : [message]).map((part) => (typeof part === "string" ? part : String(part))).join(" ")
    const pipeline = HashMap.get(annotations, "pipeline")
    const name = pipeline._tag === "Some" ? String(pipeline.value) : undefined
    if (format === "text") {
      const level = logLevel === LogLevel.Info ? "" : `${logLevel.label} `
      writeLine(`${date.toISOString().slice(11, 19)} ${level}${name === undefined ? "" : `[${name}] `}${text}`)
    } else {
      writeRecord({ time: date.toISOString(), level: logLevel.label.toLowerCase(), ...(name === undefined ? {} : { pipeline: name }), message: text })
    }
  })
  return {
    format,
    interactive,
    logger,
    report: (text, record) => (format === "text" ? writeLine(text) : writeRecord({ time: new Date().toISOString(), level: "info", ...record })),
    error: (text, fields = {}) =>
      format === "text" ? writeLine(text) : writeRecord({ time: new Date().toISOString(), level: "error", message: text, ...fields }),
    setStatus: (line) => {
      clear()
      // Scrubbed before it is cut to the terminal's width: a cut secret would no longer be recognised.
      status = line === undefined ? undefined : secrets.scrub(line).slice(0, Math.max(40, (stream.columns || 120) - 1))
      redraw()
    },
    scrubber,
    learnSecrets: (file) => {
      const learnt = Secrets.fromConfig(file.pipelines)
      secrets = learnt.scrubber
      return learnt.tooShort.map((found) => formatPath(["pipelines", ...found.path]))
    }
  }
}

/** How far behind the store a pipeline is, for a person: `12s`, `3m 5s`, `2h 10m`. */
export const formatBehind = (seconds: number): string => {
  if (seconds < 60) return `${Math.round(seconds)}s`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${Math.round(seconds % 60)}s`
  return `${Math.floor(seconds / 3600)}h ${Math.round((seconds % 3600) / 60)}m`
}

/** One pipeline's part of the terminal's progress line; `scrub` goes over the failure quoted before it is cut. */
export const statusLine = (p: PipelineProgress, rate: number, scrub: (text: string) => string = (text) => text): string => {
  const behind = p.secondsBehind()
  const retry = p.lastRetry === undefined ? undefined : scrub(p.lastRetry)
  const catching = p.catchingUp()
  // Catching up: a bar, percent and ETA by cursor time; once a pass has finished, how far behind it follows.
  const where =
    catching !== undefined
      ? `${bar(catching.fraction)} ${(catching.fraction * 100).toFixed(1)}%${catching.etaSeconds === undefined ? "" : `, ETA ${formatBehind(catching.etaSeconds)}`}`
      : p.caughtUpTo !== undefined && behind !== undefined
        ? `following, ${formatBehind(behind)} behind`
        : behind === undefined
          ? undefined
          : `${formatBehind(behind)} behind`
  return (
    `${p.pipeline}${p.part === undefined ? "" : ` (${p.part})`}: ${where === undefined ? "" : `${where}, `}${formatCount(p.exported)} exported, ${formatCount(rate)}/s, ${formatCount(p.deadLettered)} dead-lettered` +
    (p.filtered === 0 ? "" : `, ${formatCount(p.filtered)} filtered`) +
    (p.unenriched === 0 ? "" : `, ${formatCount(p.unenriched)} of unknown flags`) +
    (p.late === 0 ? "" : `, ${formatCount(p.late)} late`) +
    (p.missed === 0 ? "" : `, ${formatCount(p.missed)} missed`) +
    (p.restarts === 0 ? "" : `, ${formatCount(p.restarts)} restarts`) +
    `, ${p.activity() === "retrying" && retry !== undefined ? `retrying (${retry.length > 80 ? retry.slice(0, 79) + "…" : retry})` : p.activity()}`
  )
}

/** A 20-cell bar for a fraction. */
const bar = (fraction: number): string => {
  const filled = Math.round(fraction * 20)
  return `[${"#".repeat(filled)}${"-".repeat(20 - filled)}]`
}

/** The catching-up figures of the terminal's bar, for the JSON record: null once it follows. */
const catchUpFields = (p: PipelineProgress) => {
  const catching = p.catchingUp()
  return {
    following: p.caughtUpTo !== undefined,
    percent: catching === undefined ? null : Math.round(catching.fraction * 1000) / 10,
    etaSeconds: catching?.etaSeconds === undefined ? null : Math.round(catching.etaSeconds)
  }
}

/** One pipeline's progress as a JSON record, for log collectors. */
export const progressRecord = (p: PipelineProgress, rate: number): Record<string, unknown> => {
  const behind = p.secondsBehind()
  return {
    pipeline: p.pipeline,
    ...(p.part === undefined ? {} : { part: p.part }),
    message: "progress",
    state: p.activity(),
    ...catchUpFields(p),
    restarts: p.restarts,
    ...(p.lastRetry === undefined ? {} : { retrying: p.lastRetry }),
    batchesAtSink: p.writing,
    exported: p.exported,
    eventsPerSecond: Math.round(rate),
    deadLettered: p.deadLettered,
    late: p.late,
    filtered: p.filtered,
    unenriched: p.unenriched,
    missed: p.missed,
    retries: p.retries,
    cursor: p.cursor === undefined ? null : Cursor.format(p.cursor),
    storeTime: p.storeTime ?? null,
    horizon: p.horizon ?? null,
    secondsBehind: behind === undefined ? null : Math.round(behind * 10) / 10
  }
}

/** Shows progress: the terminal line every second, or a line (text or JSON) every `recordEvery` seconds off a terminal. */
export const showProgress = (output: Output, progresses: ReadonlyArray<PipelineProgress>, recordEvery = 10) =>
  Effect.gen(function* () {
    const last = new Map<PipelineProgress, { exported: number; at: number }>()
    let tick = 0
    const render = Effect.sync(() => {
      tick += 1
      const now = Date.now()
      const parts = progresses.map((p) => {
        const previous = last.get(p) ?? { exported: 0, at: p.startedAt }
        const rate = ((p.exported - previous.exported) * 1000) / Math.max(1, now - previous.at)
        last.set(p, { exported: p.exported, at: now })
        return { p, rate }
      })
      if (output.interactive) {
        output.setStatus(parts.map(({ p, rate }) => statusLine(p, rate, output.scrubber.scrub)).join(" | "))
      } else if (tick % recordEvery === 0) {
        for (const { p, rate } of parts) output.report(statusLine(p, rate, output.scrubber.scrub), progressRecord(p, rate))
      }
    })
    yield* render.pipe(Effect.repeat(Schedule.spaced("1 second")))
  }).pipe(Effect.ensuring(Effect.sync(() => output.setStatus(undefined))))
