// Benchmarks against a baseline in the same run: these machines are shared and noisy, so only a ratio of
// rates measured side by side means anything.

/** Timings of a subject and its baseline, in milliseconds per round, with their medians and the ratio of rates. */
export interface PairedTimings {
  readonly subjectMs: ReadonlyArray<number>
  readonly baselineMs: ReadonlyArray<number>
  readonly subjectMedianMs: number
  readonly baselineMedianMs: number
  /** The subject's rate over the baseline's (1 = as fast; 0.7 = 70 % of it). */
  readonly ratio: number
}

export const median = (values: ReadonlyArray<number>): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/**
 * Runs each once to warm up, then `rounds` rounds of both, alternating which goes first so that neither
 * always meets a warmer or a busier machine. Each run returns the milliseconds it timed.
 */
export const pairedRounds = async (options: {
  readonly rounds: number
  readonly subject: () => Promise<number>
  readonly baseline: () => Promise<number>
}): Promise<PairedTimings> => {
  const subjectMs: Array<number> = []
  const baselineMs: Array<number> = []
  await options.subject()
  await options.baseline()
  for (let round = 0; round < options.rounds; round++) {
    if (round % 2 === 0) {
      subjectMs.push(await options.subject())
      baselineMs.push(await options.baseline())
    } else {
      baselineMs.push(await options.baseline())
      subjectMs.push(await options.subject())
    }
  }
  const subjectMedianMs = median(subjectMs)
  const baselineMedianMs = median(baselineMs)
  return { subjectMs, baselineMs, subjectMedianMs, baselineMedianMs, ratio: baselineMedianMs / subjectMedianMs }
}
