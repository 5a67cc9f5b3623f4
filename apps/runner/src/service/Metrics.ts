import type { FailureClass, PipelineProgress } from "@featbit-export/core"
import * as Prom from "prom-client"

/** Seconds a read or a write takes: from a fast local page to a destination that makes the batch wait. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

const STATES = ["starting", "reading", "waiting", "restarting", "stopping", "stopped", "failed", "elsewhere"] as const

const seconds = (timestamp: string | undefined): number | undefined =>
  timestamp === undefined ? undefined : Date.parse(timestamp.slice(0, 23) + "Z") / 1000

/**
 * The Prometheus registry of a run: counters and gauges read from each pipeline's progress when scraped (so
 * the hot path only bumps plain fields), latency histograms and failure counters fed by the progress
 * observer, and the process's default metrics. Names follow Prometheus conventions: `featbit_export_`,
 * `_total` for counters, base units (`_seconds`), a `pipeline` label.
 */
export const makeMetrics = (progresses: ReadonlyArray<PipelineProgress>): Prom.Registry => {
  const registry = new Prom.Registry()
  Prom.collectDefaultMetrics({ register: registry })
  const counter = (name: string, help: string, value: (p: PipelineProgress) => number) =>
    new Prom.Counter({
      name,
      help,
      labelNames: ["pipeline"],
      registers: [registry],
      collect() {
        this.reset()
        for (const p of progresses) this.inc({ pipeline: p.pipeline }, value(p))
      }
    })
  // A pipeline in parts (a sliced backfill) is one series: counters add its parts up, gauges and its state are
  // its live part's.
  const shown = progresses.filter((p) => p.part === undefined || p.part === "live")
  const gauge = (name: string, help: string, value: (p: PipelineProgress) => number | undefined) =>
    new Prom.Gauge({
      name,
      help,
      labelNames: ["pipeline"],
      registers: [registry],
      collect() {
        this.reset()
        for (const p of shown) {
          const v = value(p)
          if (v !== undefined) this.set({ pipeline: p.pipeline }, v)
        }
      }
    })

  counter("featbit_export_events_exported_total", "Events the sink acknowledged, in this run", (p) => p.exported)
  new Prom.Counter({
    name: "featbit_export_events_dead_lettered_total",
    help: "Records written to the dead-letter file, in this run, by stage: source (rows that could not be decoded), transform (events an expression failed on) or sink (events it refused)",
    labelNames: ["pipeline", "stage"],
    registers: [registry],
    collect() {
      this.reset()
      for (const p of progresses) {
        this.inc({ pipeline: p.pipeline, stage: "source" }, p.deadLetteredBy.source)
        this.inc({ pipeline: p.pipeline, stage: "transform" }, p.deadLetteredBy.transform)
        this.inc({ pipeline: p.pipeline, stage: "sink" }, p.deadLetteredBy.sink)
      }
    }
  })
  counter("featbit_export_events_filtered_total", "Events the pipeline's filter left out, in this run", (p) => p.filtered)
  counter(
    "featbit_export_events_unenriched_total",
    "Flag evaluations exported without their flag's name and value: enrichment did not know the flag or variation, in this run",
    (p) => p.unenriched
  )
  counter("featbit_export_batches_total", "Batches committed, in this run", (p) => p.batches)
  counter("featbit_export_late_rows_total", "Rows delivered after they landed behind the cursor, in this run", (p) => p.late)
  counter("featbit_export_missed_rows_total", "Rows found too late to export (behind the late window), in this run", (p) => p.missed)
  counter("featbit_export_restarts_total", "Times the runner started a pipeline again after it gave up on a passing failure", (p) => p.restarts)
  gauge("featbit_export_batches_in_flight", "Batches at the sink now", (p) => p.writing)
  gauge("featbit_export_cursor_timestamp_seconds", "The committed cursor's event time, as a Unix time", (p) => seconds(p.cursor?.timestamp))
  gauge("featbit_export_store_time_seconds", "The store's clock at the start of the current pass, as a Unix time", (p) => seconds(p.storeTime))
  gauge("featbit_export_behind_seconds", "How far the export trails the store: its clock minus what has been read", (p) => p.secondsBehind())
  new Prom.Gauge({
    name: "featbit_export_pipeline_state",
    help: "1 for the state each pipeline is in, 0 for the others",
    labelNames: ["pipeline", "state"],
    registers: [registry],
    collect() {
      this.reset()
      for (const p of shown) for (const state of STATES) this.set({ pipeline: p.pipeline, state }, p.state === state ? 1 : 0)
    }
  })

  const failures = new Prom.Counter({
    name: "featbit_export_failures_total",
    help: "Failed reads and writes by class: transient and throttled ones are retried, fatal ones stop the pipeline",
    labelNames: ["pipeline", "class"],
    registers: [registry]
  })
  const reads = new Prom.Histogram({
    name: "featbit_export_read_duration_seconds",
    help: "Time to read a page from the source (pages that waited for room in the read-ahead buffer are not counted)",
    labelNames: ["pipeline"],
    buckets: LATENCY_BUCKETS,
    registers: [registry]
  })
  const writes = new Prom.Histogram({
    name: "featbit_export_write_duration_seconds",
    help: "Time from handing a batch to the sink to its acknowledgement, retries included",
    labelNames: ["pipeline"],
    buckets: LATENCY_BUCKETS,
    registers: [registry]
  })
  for (const p of progresses) {
    const labels = { pipeline: p.pipeline }
    const read = reads.labels(labels)
    const written = writes.labels(labels)
    // Zero series exist from the start, so a rate() over them has a baseline.
    for (const failure of ["transient", "throttled", "fatal"] as const) failures.inc({ ...labels, class: failure }, 0)
    p.observer = {
      read: (s) => read.observe(s),
      written: (s) => written.observe(s),
      failed: (failure: FailureClass) => failures.inc({ ...labels, class: failure })
    }
  }
  return registry
}
