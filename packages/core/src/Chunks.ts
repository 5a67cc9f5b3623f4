/**
 * Splits items into runs of at most `maxBytes` each by `sizeOf`, keeping their order. An item larger than
 * `maxBytes` on its own gets a run of its own (the destination decides whether it fits; splitting a row is
 * not ours to do).
 */
export const chunkBySize = <A>(items: ReadonlyArray<A>, sizeOf: (item: A) => number, maxBytes: number): Array<Array<A>> => {
  const chunks: Array<Array<A>> = []
  let current: Array<A> = []
  let bytes = 0
  for (const item of items) {
    const size = sizeOf(item)
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(item)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** Bytes are sent in pieces of about this size: few enough writes, small enough to overlap with the reader. */
const PIECE_BYTES = 64 * 1024

/**
 * Encoded lines as Buffers of about 64 KiB for a request or COPY stream, each line written straight into its
 * piece: no string of the whole body is ever built (joining then encoding one copied every byte twice).
 */
export function* linesInPieces(lines: Iterable<{ readonly line: string; readonly bytes: number }>): Generator<Buffer> {
  let piece = Buffer.allocUnsafe(PIECE_BYTES)
  let used = 0
  for (const { line, bytes } of lines) {
    if (used + bytes > piece.length) {
      if (used > 0) yield piece.subarray(0, used)
      // A piece is never reused: the socket may still hold the last one.
      piece = Buffer.allocUnsafe(Math.max(PIECE_BYTES, bytes))
      used = 0
    }
    used += piece.write(line, used)
  }
  if (used > 0) yield piece.subarray(0, used)
}

/**
 * Encoded lines as strings of about 64 Ki characters, for a client that takes text: an HTTP body then needs
 * a write per piece, not per line, and an in-process engine (chDB) that wants one string gets it without a
 * round trip through Buffers.
 */
export function* linesInTextPieces(lines: Iterable<{ readonly line: string }>): Generator<string> {
  let piece: Array<string> = []
  let length = 0
  for (const { line } of lines) {
    piece.push(line)
    length += line.length
    if (length >= PIECE_BYTES) {
      yield piece.join("")
      piece = []
      length = 0
    }
  }
  if (piece.length > 0) yield piece.join("")
}
