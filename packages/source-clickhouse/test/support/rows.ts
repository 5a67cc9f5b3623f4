import { Cursor, type ExportEvent, type FeatBitRow, type Source, type SourcePage, Timestamp } from "@featbit-export/core"
import { type GenerateOptions, generateRows } from "@featbit-export/source-generate"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"

const base = Timestamp.toMicros(Timestamp.parse("2024-03-01T00:00:00Z")!)

/** The instant `seconds` (and `micros`) after 2024-03-01T00:00:00Z. */
export const at = (seconds: number, micros = 0): Timestamp.Timestamp => Timestamp.fromMicros(base + BigInt(seconds) * 1_000_000n + BigInt(micros))

/** `count` generated rows (real FeatBit shapes) with the timestamps `time(i)` and ingest times `ingested(i)`. */
export const rowsAt = (
  count: number,
  time: (i: number) => Timestamp.Timestamp,
  options: Partial<GenerateOptions> & { readonly ingested?: (i: number) => Timestamp.Timestamp } = {}
): Array<FeatBitRow> =>
  [...generateRows({ seed: 7, ...options, count })].map((row, i) => {
    const timestamp = time(i)
    // FeatBit's _timestamp is the Kafka time in whole seconds, a little after the event.
    const ingestedAt = options.ingested?.(i) ?? Timestamp.fromMicros(((Timestamp.toMicros(timestamp) / 1_000_000n) + 1n) * 1_000_000n)
    return { ...row, timestamp, ingestedAt }
  })

/** Keyset order, as core's Cursor.compare defines it. */
export const sortByKey = (rows: ReadonlyArray<FeatBitRow>): Array<FeatBitRow> =>
  [...rows].sort((a, b) => Cursor.compare({ timestamp: a.timestamp, id: a.id }, { timestamp: b.timestamp, id: b.id }))

export const readAll = (source: Source, from: Cursor.Cursor | undefined, pageSize: number): Effect.Effect<ReadonlyArray<SourcePage>, unknown> =>
  source.read(from, { pageSize }).pipe(Stream.runCollect, Effect.map(Chunk.toReadonlyArray))

export const eventIds = (pages: ReadonlyArray<SourcePage>): Array<string> => pages.flatMap((page) => page.events.map((event: ExportEvent) => event.id))

export const ids = (rows: ReadonlyArray<FeatBitRow>): Array<string> => rows.map((row) => row.id)
