import type { Document } from "bson"

/** The `_bsontype` tag of a bson value (by tag, not instanceof: the driver's bson classes may not be this module's). */
export const bsonTag = (value: unknown): string | undefined =>
  value !== null && typeof value === "object" ? (value as { _bsontype?: string })._bsontype : undefined

// MongoDB's comparison order of BSON types (numbers as one bracket).
const typeRank = (value: unknown): number => {
  if (value === undefined || value === null) return 1
  if (typeof value === "number" || typeof value === "bigint") return 2
  if (typeof value === "string") return 3
  if (value instanceof Date) return 9
  if (typeof value === "boolean") return 8
  const bsontype = bsonTag(value)
  if (bsontype === "ObjectId") return 7
  if (bsontype === "Int32" || bsontype === "Double" || bsontype === "Long" || bsontype === "Decimal128") return 2
  if (bsontype === "Binary") return 6
  if (bsontype === "Timestamp") return 10
  if (Array.isArray(value)) return 5
  return 4
}

export const utf8Compare = (a: string, b: string): number => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))

/** Compares two BSON values as MongoDB sorts them (enough for scalars; documents by their JSON text). */
export const compareBson = (a: unknown, b: unknown): number => {
  const ra = typeRank(a)
  const rb = typeRank(b)
  if (ra !== rb) return ra - rb
  switch (ra) {
    case 1:
      return 0
    case 2: {
      const x = Number(typeof a === "object" ? String(a) : a)
      const y = Number(typeof b === "object" ? String(b) : b)
      return x < y ? -1 : x > y ? 1 : 0
    }
    case 3: {
      const x = a as string
      const y = b as string
      // ASCII (every uuid) compares the same in UTF-16 and UTF-8; only other text needs the bytes.
      return x === y ? 0 : /^[\x00-\x7f]*$/.test(x + y) ? (x < y ? -1 : 1) : utf8Compare(x, y)
    }
    case 9:
      return (a as Date).getTime() - (b as Date).getTime()
    case 7:
      return utf8Compare(String(a), String(b))
    case 8:
      return Number(a) - Number(b)
    default:
      return utf8Compare(JSON.stringify(a) ?? "", JSON.stringify(b) ?? "")
  }
}

export const fieldOf = (doc: Document, path: string): unknown => {
  let value: unknown = doc
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object") return undefined
    value = (value as Record<string, unknown>)[part]
  }
  return value
}

/** A comparator for a sort specification whose directions are already 1 or -1 (or numbers whose sign says). */
export const comparatorOf = (sort: Readonly<Record<string, unknown>>) => {
  const keys = Object.entries(sort).map(([path, direction]) => [path, Number(direction) < 0 ? -1 : 1] as const)
  return (a: Document, b: Document): number => {
    for (const [path, direction] of keys) {
      const c = compareBson(fieldOf(a, path), fieldOf(b, path))
      if (c !== 0) return c * direction
    }
    return 0
  }
}
