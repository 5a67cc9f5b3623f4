import { type ConfigError, Cursor, type ExportEvent, Pipeline, type PipelineFile, type SinkFields } from "@featbit-export/core"
import * as Chunk from "effect/Chunk"
import { openEnricher } from "@featbit-export/enrich-flags"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { Args } from "../Args.js"
import { displayJson } from "../Display.js"
import type { Output } from "../Output.js"
import { loadFile, openSource, selectPipelines } from "../Pipelines.js"
import { openState } from "../State.js"
import { findSink } from "../Plugins.js"

/**
 * `featbit-export preview`: prints, on stdout, the next events a pipeline would export (after its committed
 * cursor), as its sink would receive them. Opens only the source; writes and commits nothing.
 */
export const previewCommand = (args: Args, registry: PipelineFile.PluginRegistry, output: Output): Effect.Effect<number, ConfigError> =>
  Effect.gen(function* () {
    const file = yield* loadFile(args, registry)
    const selected = yield* selectPipelines(file, args.pipelines)
    let failures = 0
    for (const pipeline of selected) {
      const render = findSink(registry, pipeline.sink.type).render?.(pipeline.sink) ?? ((event: ExportEvent, _fields?: SinkFields) => event)
      const result = yield* Effect.gen(function* () {
        const saved = yield* (yield* openState(file, output.scrubber)).checkpoints.load(pipeline.name)
        const from = Option.getOrUndefined(saved)?.cursor
        const source = yield* openSource(file, pipeline, registry)
        const enricher = pipeline.enrich === undefined ? undefined : yield* openEnricher(pipeline.enrich)
        const pages = yield* source.read(from, { pageSize: Math.min(pipeline.batch.size, args.limit) }).pipe(
          Stream.mapEffect((page) => (enricher === undefined ? Effect.succeed(page) : Effect.map(enricher.enrich(page.events), (events) => ({ ...page, events })))),
          Stream.mapAccum(0, (seen, page) => [seen + page.events.length + page.rejected.length, { seen, page }]),
          Stream.takeUntil(({ page, seen }) => seen + page.events.length + page.rejected.length >= args.limit),
          Stream.runCollect
        )
        return { from, pages: Chunk.toReadonlyArray(pages).map(({ page }) => page) }
      }).pipe(Effect.scoped, Effect.either)
      if (result._tag === "Left") {
        failures += 1
        output.report(`featbit-export: preview of ${pipeline.name}: ${result.left.message}`, { level: "error", pipeline: pipeline.name, message: result.left.message })
        continue
      }
      let shown = 0
      let rejected = 0
      let filtered = 0
      let failed = 0
      for (const source of result.right.pages) {
        // As the sink would get them: after the filter, the transform and the sink's map.
        const page = Pipeline.transformPage(source, pipeline.transformStep)
        for (const event of page.events) {
          if (shown >= args.limit) break
          // Data, not a message: still scrubbed, as a row may hold what a proxy echoed.
          process.stdout.write(output.scrubber.scrub(displayJson(render(event, page.fields?.get(event)))) + "\n")
          shown += 1
        }
        rejected += source.rejected.length
        filtered += page.filtered
        failed += page.failed.length
        for (const failure of page.failed.slice(0, 3)) output.report(`${pipeline.name}: event ${failure.event.id} would be dead-lettered: ${failure.reason}`, { level: "warn", pipeline: pipeline.name, message: "transform failed", id: failure.event.id, reason: failure.reason })
      }
      const notes = [
        rejected === 0 ? "" : `, ${rejected} row(s) that would be dead-lettered`,
        filtered === 0 ? "" : `, ${filtered} filtered out`,
        failed === 0 ? "" : `, ${failed} an expression failed on (would be dead-lettered)`
      ].join("")
      output.report(
        `${pipeline.name}: ${shown} event${shown === 1 ? "" : "s"} after ${Cursor.format(result.right.from)}${notes}; nothing was written`,
        { pipeline: pipeline.name, message: "preview", shown, rejected, filtered, failed }
      )
    }
    return failures === 0 ? 0 : 1
  })
