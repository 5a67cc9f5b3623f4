import { type PipelineFile, Timestamp } from "@featbit-export/core"

/**
 * What a runner runs of a pipeline: the pipeline itself, or, with `slices: N`, its backfill split into N time
 * windows (each run once, with a cursor of its own, by whichever runner of the cluster takes it) and the live
 * export from `endAt` on, under the pipeline's own name. The parts are reported as one pipeline.
 */
export interface Part {
  /** What the engine runs: a pipeline config whose name is the part's checkpoint. */
  readonly config: PipelineFile.PipelineConfig
  /** The pipeline it belongs to. */
  readonly pipeline: string
  /** `slice 2/8` or `live` (a sliced pipeline's parts); none for a pipeline that is not sliced. */
  readonly part?: string
}

/** The N + 1 bounds of N equal windows over [startAt, endAt), to the microsecond. */
export const sliceBounds = (startAt: Timestamp.Timestamp, endAt: Timestamp.Timestamp, n: number): ReadonlyArray<Timestamp.Timestamp> => {
  const from = Timestamp.toMicros(startAt)
  const span = Timestamp.toMicros(endAt) - from
  return Array.from({ length: n + 1 }, (_, i) => (i === n ? endAt : Timestamp.fromMicros(from + (span * BigInt(i)) / BigInt(n))))
}

export const partsOf = (pipeline: PipelineFile.PipelineConfig): ReadonlyArray<Part> => {
  const n = pipeline.slices
  if (n === undefined) return [{ config: pipeline, pipeline: pipeline.name }]
  // The file's checks made sure of both (sliceIssues).
  const source = pipeline.source as PipelineFile.PluginConfig & { readonly startAt: Timestamp.Timestamp; readonly endAt: Timestamp.Timestamp }
  const bounds = sliceBounds(source.startAt, source.endAt, n)
  const { endAt: _, ...live } = source
  return [
    ...Array.from({ length: n }, (_, i): Part => ({
      // `/` cannot be in a pipeline's name, so no pipeline of the file can take a slice's checkpoint.
      config: { ...pipeline, name: `${pipeline.name}/slice-${i + 1}-of-${n}`, mode: "once", source: { ...source, startAt: bounds[i], endAt: bounds[i + 1] } },
      pipeline: pipeline.name,
      part: `slice ${i + 1}/${n}`
    })),
    { config: { ...pipeline, source: { ...live, startAt: source.endAt } }, pipeline: pipeline.name, part: "live" }
  ]
}
