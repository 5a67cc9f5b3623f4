import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

// Decimal units follow SI (what disks and cloud quotas print); binary ones are spelled with "i", so
// "100MB" and "100MiB" never mean the same thing by accident.
const unitBytes: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4
}
const sizeText = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)?\s*$/i

/**
 * Reads a size such as `100MB`, `1.5 GiB` or `4096` (bytes). Returns `undefined` for anything that is not
 * a whole, positive, representable number of bytes.
 */
export const parseByteSize = (input: string | number): number | undefined => {
  if (typeof input === "number") {
    return Number.isSafeInteger(input) && input >= 1 ? input : undefined
  }
  const match = sizeText.exec(input)
  if (match === null) return undefined
  const unit = unitBytes[(match[2] ?? "b").toLowerCase()]
  if (unit === undefined) return undefined
  const bytes = Math.round(Number(match[1]) * unit)
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : undefined
}

/**
 * A size in a pipeline file: a number of bytes, or text with a unit. Decodes to a whole number of bytes.
 */
export const ByteSize = Schema.transformOrFail(
  // Plain members, so a bad value gets the one message below; the JSON Schema still tells editors the rules.
  Schema.Union(
    Schema.Number.annotations({ jsonSchema: { type: "integer", minimum: 1 } }),
    Schema.String.annotations({ jsonSchema: { type: "string", pattern: sizeText.source.replace("[a-z]", "[a-zA-Z]") } })
  ).annotations({
    description: "bytes, or a number with a unit: 500KB, 100MB, 1GiB (KB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB powers of 1024)"
  }),
  Schema.Number,
  {
    strict: true,
    decode: (input, _, ast) => {
      const bytes = parseByteSize(input)
      return bytes === undefined
        ? ParseResult.fail(
            new ParseResult.Type(ast, input, `Expected a size such as 4096, 500KB, 100MB or 1GiB, actual ${JSON.stringify(input)}`)
          )
        : ParseResult.succeed(bytes)
    },
    encode: (bytes) => ParseResult.succeed(bytes)
  }
).annotations({ identifier: "ByteSize" })
