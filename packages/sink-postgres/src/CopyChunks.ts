import type { ExportEvent } from "@featbit-export/core"
import type { CopyLine } from "./Rows.js"

/** COPY data is sent in pieces of about this many characters: few enough messages, small enough to overlap. */
const PIECE_CHARS = 64 * 1024

/** One chunk of a batch: the lines encoded so far, and the COPY text that encodes the rest as it is read. */
export interface CopyChunk {
  /** The chunk's COPY text in pieces, each line encoded only when the COPY asks for it; each reading is the whole chunk. */
  readonly text: Iterable<Buffer>
  /** Every line of the chunk, encoding what `text` did not reach (a COPY that failed part way). */
  readonly lines: () => ReadonlyArray<CopyLine>
}

/** Lines of COPY text in pieces for the COPY stream. */
export function* copyPieces(lines: Iterable<CopyLine>): Generator<Buffer> {
  let piece = ""
  for (const { line } of lines) {
    piece += line
    if (piece.length >= PIECE_CHARS) {
      yield Buffer.from(piece)
      piece = ""
    }
  }
  if (piece !== "") yield Buffer.from(piece)
}

/**
 * A batch's events as chunks of COPY lines of at most `maxBytes` each (chunkBySize's rule: a line larger than
 * `maxBytes` goes alone). Lines are encoded while the COPY reads them, so Node encodes the next lines while
 * PostgreSQL parses the last: encoding a whole batch before sending any of it took as long as the COPY itself.
 */
export const copyChunks = function* (events: ReadonlyArray<ExportEvent>, encode: (event: ExportEvent) => CopyLine, maxBytes: number): Generator<CopyChunk> {
  let next = 0
  let carried: CopyLine | undefined
  while (carried !== undefined || next < events.length) {
    const lines: Array<CopyLine> = []
    let bytes = 0
    let full = false
    /** The chunk's next line, or undefined when it is full (the line that did not fit opens the next chunk) or the events are done. */
    const take = (): CopyLine | undefined => {
      if (full) return undefined
      const line = carried ?? (next < events.length ? encode(events[next++]!) : undefined)
      carried = undefined
      if (line === undefined || (lines.length > 0 && bytes + line.bytes > maxBytes)) {
        carried = line
        full = true
        return undefined
      }
      lines.push(line)
      bytes += line.bytes
      return line
    }
    // The lines encoded already, then the rest as they are encoded: every line of the chunk, however it was read.
    const all = function* (): Generator<CopyLine> {
      for (let i = 0; ; i++) {
        const line = i < lines.length ? lines[i] : take()
        if (line === undefined) return
        yield line
      }
    }
    const finish = () => {
      while (take() !== undefined);
      return lines
    }
    yield { text: { [Symbol.iterator]: () => copyPieces(all()) }, lines: finish }
    // The caller may not have read the chunk (an error before its COPY began): its lines are still this chunk's.
    finish()
  }
}
