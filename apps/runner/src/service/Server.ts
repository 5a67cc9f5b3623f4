import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { ConfigError, Cursor, type ListenAddress, type PipelineProgress, type Secrets } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import type * as Prom from "prom-client"

/** States in which a pipeline does its work: reading, or caught up and waiting for new rows; or another runner of the cluster does. */
const READY = new Set(["reading", "waiting", "elsewhere"])

/** One pipeline as `/status` shows it. */
export const statusOf = (p: PipelineProgress) => ({
  pipeline: p.pipeline,
  state: p.state,
  since: new Date(p.stateSince).toISOString(),
  activity: p.activity(),
  cursor: p.cursor === undefined ? null : Cursor.format(p.cursor),
  storeTime: p.storeTime ?? null,
  horizon: p.horizon ?? null,
  secondsBehind: p.secondsBehind() ?? null,
  exported: p.exported,
  deadLettered: { source: p.deadLetteredBy.source, transform: p.deadLetteredBy.transform, sink: p.deadLetteredBy.sink },
  filtered: p.filtered,
  unenriched: p.unenriched,
  batches: p.batches,
  batchesAtSink: p.writing,
  retries: p.retries,
  restarts: p.restarts,
  late: p.late,
  missed: p.missed,
  retrying: p.lastRetry ?? null,
  claimedBy: p.claimedBy ?? null,
  lastError: p.lastError === undefined ? null : { message: p.lastError.message, at: new Date(p.lastError.at).toISOString() }
})

/**
 * Every pipeline as `/status` shows it: one entry per pipeline, a sliced backfill's parts in one (its live
 * part's state and cursor, totals added up over the parts, and each part in `parts`).
 */
export const statusOfAll = (progresses: ReadonlyArray<PipelineProgress>) => {
  const byPipeline = new Map<string, Array<PipelineProgress>>()
  for (const p of progresses) byPipeline.set(p.pipeline, [...(byPipeline.get(p.pipeline) ?? []), p])
  return [...byPipeline.values()].map((parts) => {
    if (parts.length === 1 && parts[0]!.part === undefined) return statusOf(parts[0]!)
    const live = parts.find((p) => p.part === "live") ?? parts[0]!
    const sum = (f: (p: PipelineProgress) => number) => parts.reduce((n, p) => n + f(p), 0)
    return {
      ...statusOf(live),
      exported: sum((p) => p.exported),
      deadLettered: { source: sum((p) => p.deadLetteredBy.source), transform: sum((p) => p.deadLetteredBy.transform), sink: sum((p) => p.deadLetteredBy.sink) },
      filtered: sum((p) => p.filtered),
      unenriched: sum((p) => p.unenriched),
      batches: sum((p) => p.batches),
      batchesAtSink: sum((p) => p.writing),
      retries: sum((p) => p.retries),
      restarts: sum((p) => p.restarts),
      late: sum((p) => p.late),
      missed: sum((p) => p.missed),
      parts: parts.map((p) => ({ part: p.part, ...statusOf(p) }))
    }
  })
}

/** Why the runner is not ready, one line per pipeline that is not, or an empty list. */
export const notReady = (progresses: ReadonlyArray<PipelineProgress>): Array<string> =>
  progresses
    // A slice of a backfill that is done has stopped for good, as it should.
    .filter((p) => !READY.has(p.state) && !(p.part?.startsWith("slice") === true && p.state === "stopped"))
    .map((p) => `${p.pipeline}${p.part === undefined ? "" : ` (${p.part})`}: ${p.state}${p.lastError === undefined || p.state === "starting" ? "" : ` (${p.lastError.message})`}`)

/**
 * The runner's HTTP endpoint, open for the scope: `/metrics` (Prometheus text), `/healthz` (the process
 * answers), `/readyz` (every pipeline reading or waiting for rows, else 503 with the reasons), `/status`
 * (JSON). Everything it answers passes the file's scrubber: a failure quoted in `/status` may hold what a far
 * end echoed. Read-only: any other method is refused.
 */
export const serve = (
  address: ListenAddress,
  progresses: ReadonlyArray<PipelineProgress>,
  registry: Prom.Registry,
  scrubber: Secrets.Scrubber
): Effect.Effect<AddressInfo, ConfigError, import("effect/Scope").Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; bound: AddressInfo }, ConfigError>((resume) => {
      const send = (response: http.ServerResponse, status: number, type: string, body: string) => {
        response.writeHead(status, { "content-type": type, "cache-control": "no-store" })
        response.end(scrubber.scrub(body))
      }
      const server = http.createServer((request, response) => {
        const path = (request.url ?? "/").split("?")[0]
        if (request.method !== "GET" && request.method !== "HEAD") return send(response, 405, "text/plain; charset=utf-8", "only GET\n")
        switch (path) {
          case "/metrics":
            return void registry.metrics().then(
              (text) => send(response, 200, registry.contentType, text),
              () => send(response, 500, "text/plain; charset=utf-8", "metrics could not be collected\n")
            )
          case "/healthz":
            return send(response, 200, "text/plain; charset=utf-8", "ok\n")
          case "/readyz": {
            const reasons = notReady(progresses)
            return send(response, reasons.length === 0 ? 200 : 503, "text/plain; charset=utf-8", reasons.length === 0 ? "ready\n" : reasons.join("\n") + "\n")
          }
          case "/status":
            return send(response, 200, "application/json", JSON.stringify({ pipelines: statusOfAll(progresses) }, null, 2) + "\n")
          default:
            return send(response, 404, "text/plain; charset=utf-8", "not found: try /metrics, /healthz, /readyz or /status\n")
        }
      })
      // Scrapers keep connections alive; they must not hold a stop up.
      server.keepAliveTimeout = 5_000
      server.once("error", (error: NodeJS.ErrnoException) =>
        resume(
          Effect.fail(
            new ConfigError({
              file: "command line",
              issues: [
                {
                  path: [],
                  message: `cannot listen on ${address.host}:${address.port}: ${error.code === "EADDRINUSE" ? "the address is in use (another runner?); choose another port" : error.code === "EADDRNOTAVAIL" ? "no interface of this machine has that address" : error.code === "EACCES" ? "permission denied (ports under 1024 need privileges)" : error.message}`
                }
              ]
            })
          )
        )
      )
      server.listen(address.port, address.host, () => resume(Effect.succeed({ server, bound: server.address() as AddressInfo })))
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map(({ bound }) => bound))
