import { type ExportEvent, linesInPieces } from "@featbit-export/core"
import type { CopyLine } from "./Rows.js"

/** One chunk of a batch: its COPY text, encoded as it is read, and its lines again for a chunk whose COPY refused a row. */
export interface CopyChunk {
  /** The chunk's COPY text in pieces, each line encoded only when the COPY asks for it; each reading is the whole chunk. */
  readonly text: Iterable<Buffer>
  /** Every line of the chunk, encoded again: only a chunk whose transaction refused a row needs them (to set it aside). */
  readonly lines: () => ReadonlyArray<CopyLine>
}

/**
 * A batch's events as chunks of COPY lines of at most `maxBytes` each (chunkBySize's rule: a line larger than
 * `maxBytes` goes alone). Lines are encoded while the COPY reads them, so Node encodes the next lines while
 * PostgreSQL parses the last (encoding a whole batch before sending any of it took as long as the COPY itself),
 * and a line is garbage once it is in its piece: a chunk keeps its events, not its text.
 */
export const copyChunks = function* (events: ReadonlyArray<ExportEvent>, encode: (event: ExportEvent) => CopyLine, maxBytes: number): Generator<CopyChunk> {
  let next = 0
  let carried: CopyLine | undefined
  while (carried !== undefined || next < events.length) {
    const taken: Array<ExportEvent> = []
    let bytes = 0
    let full = false
    /** The chunk's next line, or undefined when it is full (the line that did not fit opens the next chunk) or the events are done. */
    const take = (): CopyLine | undefined => {
      if (full) return undefined
      const line = carried ?? (next < events.length ? encode(events[next++]!) : undefined)
      carried = undefined
      if (line === undefined || (taken.length > 0 && bytes + line.bytes > maxBytes)) {
        carried = line
        full = true
        return undefined
      }
      taken.push(line.event)
      bytes += line.bytes
      return line
    }
    // The lines taken already (encoded again), then the rest as they are taken: the whole chunk, however it was read.
    const all = function* (): Generator<CopyLine> {
      for (let i = 0; ; i++) {
        const line = i < taken.length ? encode(taken[i]!) : take()
        if (line === undefined) return
        yield line
      }
    }
    const finish = () => {
      while (take() !== undefined);
    }
    yield {
      text: { [Symbol.iterator]: () => linesInPieces(all()) },
      lines: () => {
        finish()
        return taken.map(encode)
      }
    }
    // The caller may not have read the chunk (an error before its COPY began): its events are still this chunk's.
    finish()
  }
}
