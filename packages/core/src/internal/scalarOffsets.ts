import * as YAML from "yaml"

/**
 * Where, in the file's text, the character at `offset` of a scalar's value is written. A parsed value is not a
 * slice of the file: quotes, escapes, the indentation of a block scalar (`|`) and the line breaks a folded one
 * (`>`) turns into spaces all lie between them. The value is walked beside its source: equal characters are
 * the same character; a space or line break of the value may stand for a line break of the source (folding);
 * any other source character (indentation, a quote, an escape's backslash) is not in the value and is skipped.
 */
export const sourceOffset = (text: string, node: YAML.Scalar, offset: number): number | undefined => {
  if (typeof node.value !== "string" || node.range === undefined || node.range === null) return undefined
  const value = node.value
  const [start, , end] = node.range
  let j = contentStart(text, node, start)
  const doubleQuoted = node.type === YAML.Scalar.QUOTE_DOUBLE
  for (let i = 0; i < value.length && j < end; ) {
    const v = value[i]!
    const s = text[j]!
    if (doubleQuoted && s === "\\") {
      // An escape is several characters of the source for one of the value; an escaped line break is none.
      const next = text[j + 1]
      if (next === "\n" || next === "\r") {
        j += 2
        continue
      }
      if (i === offset) return j
      i += 1
      j += next === "x" ? 4 : next === "u" ? 6 : next === "U" ? 10 : 2
    } else if (v === s || ((v === " " || v === "\n") && s === "\n")) {
      if (i === offset) return j
      i += 1
      j += 1
    } else if (v === "\n" && s === "\r") j += 1
    else j += 1
  }
  // The end of the expression (an error "at the end": an unclosed call).
  return offset >= value.length ? Math.min(j, end) : undefined
}

/** The first character of a scalar's content: after its opening quote, or on the line after a block header. */
const contentStart = (text: string, node: YAML.Scalar, start: number): number => {
  switch (node.type) {
    case YAML.Scalar.QUOTE_DOUBLE:
    case YAML.Scalar.QUOTE_SINGLE:
      return start + 1
    case YAML.Scalar.BLOCK_LITERAL:
    case YAML.Scalar.BLOCK_FOLDED: {
      const lineEnd = text.indexOf("\n", start)
      return lineEnd === -1 ? start : lineEnd + 1
    }
    default:
      return start
  }
}
