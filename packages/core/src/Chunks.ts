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
