/**
 * Packs items, in order, into groups within the count and byte limits of one request whose body joins them
 * with commas inside `envelopeBytes` of envelope, handing each group on to `full` as soon as it is full (so a
 * caller can build a request per group while packing). An item too large on its own gets a group of its own.
 */
export const requestPacker = <T extends { readonly bytes: number }>(
  maxItems: number,
  maxBytes: number,
  envelopeBytes: number,
  full: (group: Array<T>) => void
): { readonly add: (item: T) => void; readonly end: () => void } => {
  let current: Array<T> = []
  let bytes = envelopeBytes
  return {
    add: (item) => {
      const added = item.bytes + (current.length > 0 ? 1 : 0)
      if (current.length > 0 && (current.length >= maxItems || bytes + added > maxBytes)) {
        full(current)
        current = []
        bytes = envelopeBytes
      }
      bytes += item.bytes + (current.length > 0 ? 1 : 0)
      current.push(item)
    },
    end: () => {
      if (current.length > 0) full(current)
      current = []
    }
  }
}

/** Splits items into the groups of `requestPacker`: requests within the count and byte limits, in order. */
export const chunkRequests = <T extends { readonly bytes: number }>(
  items: ReadonlyArray<T>,
  maxItems: number,
  maxBytes: number,
  envelopeBytes = 0
): Array<Array<T>> => {
  const groups: Array<Array<T>> = []
  const pack = requestPacker<T>(maxItems, maxBytes, envelopeBytes, (group) => void groups.push(group))
  for (const item of items) pack.add(item)
  pack.end()
  return groups
}
