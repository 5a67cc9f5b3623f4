// Event Hubs places an event sent with a partition key by a hash of the key's UTF-8 bytes (Bob Jenkins'
// lookup3, `hashlittle2`, folded to 16 bits), and the SDK's EventHubBufferedProducerClient repeats that hash
// on the client so that it can send to partition ids. The sink does the same: an event goes to the
// partition the service would have chosen for its key, yet one send carries a whole partition's events
// instead of one key's. The arithmetic is 32-bit throughout (`| 0`), as in the C original.

const rotate = (x: number, k: number): number => (x << k) | (x >>> (32 - k))

const encoder = new TextEncoder()
// Reused so hashing a key allocates nothing; grown for long keys (UTF-8 needs at most 3 bytes per UTF-16 unit).
let scratch = new Uint8Array(256)

const word = (bytes: Uint8Array, at: number): number =>
  bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)

/** The key's 16-bit hash, signed, as Event Hubs computes it. */
export const hashPartitionKey = (key: string): number => {
  if (scratch.length < key.length * 3) scratch = new Uint8Array(key.length * 3)
  const length = encoder.encodeInto(key, scratch).written
  const bytes = scratch
  let a = (0xdeadbeef + length) | 0
  let b = a
  let c = a
  let at = 0
  while (length - at > 12) {
    a = (a + word(bytes, at)) | 0
    b = (b + word(bytes, at + 4)) | 0
    c = (c + word(bytes, at + 8)) | 0
    a = ((a - c) | 0) ^ rotate(c, 4)
    c = (c + b) | 0
    b = ((b - a) | 0) ^ rotate(a, 6)
    a = (a + c) | 0
    c = ((c - b) | 0) ^ rotate(b, 8)
    b = (b + a) | 0
    a = ((a - c) | 0) ^ rotate(c, 16)
    c = (c + b) | 0
    b = ((b - a) | 0) ^ rotate(a, 19)
    a = (a + c) | 0
    c = ((c - b) | 0) ^ rotate(b, 4)
    b = (b + a) | 0
    at += 12
  }
  const rest = length - at
  // lookup3 returns the seeds unmixed for empty input (only the empty key gets here).
  if (rest > 0) {
    // The last 1..12 bytes, little-endian, into a, b, c; the missing ones count as zero.
    for (let i = 0; i < rest; i++) {
      const value = bytes[at + i]! << ((i & 3) * 8)
      if (i < 4) a = (a + value) | 0
      else if (i < 8) b = (b + value) | 0
      else c = (c + value) | 0
    }
    c = (c ^ b) - rotate(b, 14)
    a = (a ^ c) - rotate(c, 11)
    b = (b ^ a) - rotate(a, 25)
    c = (c ^ b) - rotate(b, 16)
    a = (a ^ c) - rotate(c, 4)
    b = (b ^ a) - rotate(a, 14)
    c = (c ^ b) - rotate(b, 24)
  }
  return ((c ^ b) << 16) >> 16
}

/**
 * The index, among the hub's partitions, of the partition a key belongs to. The service (and the SDK) take
 * the absolute value of the signed remainder, so negative hashes do not fold onto the positive ones' partitions.
 */
export const partitionIndexOf = (key: string, partitionCount: number): number => Math.abs(hashPartitionKey(key) % partitionCount)
