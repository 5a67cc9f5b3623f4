import { type ExportEvent, Timestamp, decodeFeatBitRow } from "@featbit-export/core"
import { generateRows } from "@featbit-export/source-generate"
import * as Either from "effect/Either"

/** Production-shaped events (thousands of users, evaluations and metrics mixed), starting `hoursAgo` hours ago. */
export const sampleEvents = (count: number, seed: number, hoursAgo = 1): Array<ExportEvent> =>
  [...generateRows({ count, seed, start: Timestamp.fromMillis(Date.now() - hoursAgo * 3_600_000) })].flatMap((row) =>
    Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (event) => [event] })
  )
