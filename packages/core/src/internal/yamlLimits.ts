import * as YAML from "yaml"
import type { ConfigIssue } from "../Errors.js"

/**
 * What a pipeline file may be, checked before the YAML parser builds anything: a real one is a few KB, and
 * the parser's cost grows with size (1.3 s per MB), its recursion with nesting (past a few thousand levels
 * V8's stack overflows, or aborts the process), and alias expansion exponentially (the "billion laughs").
 */
export const MAX_FILE_BYTES = 1024 * 1024
/** Nesting of blocks and lists; a pipeline file needs about 8. */
export const MAX_DEPTH = 64
/** Copies aliases may make, as `yaml` counts them (a large block copied counts more). */
export const MAX_ALIAS_COUNT = 100
/** Issues printed for one file; past them the file is not what the person meant to give. */
export const MAX_ISSUES = 20

const sizeText = (bytes: number): string =>
  bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MB` : bytes >= 1024 ? `${Math.round(bytes / 1024)} KB` : `${bytes} bytes`

export const tooLarge = (bytes: number): ConfigIssue => ({
  path: [],
  message: `the file is ${bytes > MAX_FILE_BYTES * 2 ? "" : "over "}${sizeText(bytes)}, more than a pipeline file may be (1 MB): give the pipeline file itself, not data`
})

/** Line and column (1-based) of a character offset. */
const lineAndColumn = (text: string, offset: number): { line: number; column: number } => {
  let line = 1
  let start = 0
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++
    start = i + 1
  }
  return { line, column: offset - start + 1 }
}

// Text files carry tab, newline and carriage return, and no other C0 control character; YAML forbids them.
const control = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/

const binary: ConfigIssue = {
  path: [],
  message: "the file is not text (it holds NUL or other control bytes): a pipeline file is YAML text; check the file name"
}

/** The first byte at which `bytes` stop being UTF-8, or -1. */
const invalidUtf8At = (bytes: Uint8Array): number => {
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    if (length === 0 || i + length > bytes.length) return i
    for (let k = 1; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i
    // Overlong forms, surrogates and code points past U+10FFFF.
    const second = bytes[i + 1] ?? 0
    if ((b === 0xe0 && second < 0xa0) || (b === 0xed && second > 0x9f) || (b === 0xf0 && second < 0x90) || (b === 0xf4 && second > 0x8f)) return i
    i += length
  }
  return -1
}

/**
 * The text of a pipeline file's bytes, or why they are not one: too large, UTF-16, binary, or not UTF-8
 * (decoded strictly: a replaced byte would silently change a path or a password). Never quotes the content.
 */
export const decodeFile = (bytes: Uint8Array): { readonly text: string } | { readonly issue: ConfigIssue } => {
  if (bytes.length > MAX_FILE_BYTES) return { issue: tooLarge(bytes.length) }
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return { issue: { path: [], message: "the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8" } }
  }
  if (bytes.includes(0)) return { issue: binary }
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) }
  } catch {
    const at = invalidUtf8At(bytes)
    const before = new TextDecoder("utf-8").decode(bytes.subarray(0, Math.max(0, at)))
    const { line, column } = lineAndColumn(before, before.length)
    return {
      issue: { path: [], line, column, message: `byte ${at + 1} of the file is not UTF-8 (is it in another encoding, such as Latin-1 or Windows-1252?): save the file as UTF-8` }
    }
  }
}

/**
 * Why `text` cannot be a pipeline file before it is parsed, or undefined: too large, binary, or with
 * characters a lossy decoding left (U+FFFD) where the file was not UTF-8.
 */
export const checkText = (text: string): ConfigIssue | undefined => {
  // Characters are at most 3 UTF-8 bytes each in the BMP (4 for a surrogate pair, 2 characters).
  if (text.length > MAX_FILE_BYTES || (text.length * 3 > MAX_FILE_BYTES && Buffer.byteLength(text, "utf8") > MAX_FILE_BYTES)) {
    return tooLarge(Buffer.byteLength(text, "utf8"))
  }
  if (text.includes("\u0000")) return binary
  const controlAt = text.search(control)
  if (controlAt >= 0) {
    const code = text.charCodeAt(controlAt).toString(16).toUpperCase().padStart(4, "0")
    return { path: [], ...lineAndColumn(text, controlAt), message: `a control character (U+${code}) is here: a pipeline file is plain text; remove it` }
  }
  const replaced = text.indexOf("\uFFFD")
  if (replaced >= 0) {
    return {
      path: [],
      ...lineAndColumn(text, replaced),
      message: "this character was not UTF-8 when the file was read (is it in another encoding, such as Latin-1 or Windows-1252?): save the file as UTF-8"
    }
  }
  return undefined
}

export type ParseOptions = YAML.DocumentOptions & YAML.ParseOptions & YAML.SchemaOptions

/**
 * The concrete syntax tree of `text`, watched as it grows: the parser's stack is an array (it builds the
 * tree without recursion), so parsing stops past `MAX_DEPTH`, before the composer (which recurses) builds
 * anything; and more than one document is refused rather than ignored.
 */
const tokensOf = (text: string, lines: YAML.LineCounter): { readonly tokens: Array<YAML.CST.Token> } | { readonly issue: ConfigIssue } => {
  const parser = new YAML.Parser(lines.addNewLine)
  lines.addNewLine(0)
  const tokens: Array<YAML.CST.Token> = []
  let documents = 0
  const take = (token: YAML.CST.Token): ConfigIssue | undefined => {
    tokens.push(token)
    if (token.type !== "document" || ++documents === 1) return undefined
    const { line, col } = lines.linePos(token.offset)
    return {
      path: [],
      line,
      column: col,
      message: "a second YAML document starts here (after a '---' line): keep one document per file, with every pipeline under one 'pipelines:' list"
    }
  }
  for (const lexeme of new YAML.Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) {
      const issue = take(token)
      if (issue !== undefined) return { issue }
    }
    // The stack holds the document, then the open collections (and, in a block, the token being read: one
    // level too many there, which errs on the safe side).
    if (parser.stack.length - 1 > MAX_DEPTH) {
      const { line, col } = lines.linePos(parser.offset)
      return {
        issue: {
          path: [],
          line,
          column: col,
          message: `the file nests blocks and lists more than ${MAX_DEPTH} levels deep here; a pipeline file needs about 8: check the brackets and the indentation`
        }
      }
    }
  }
  for (const token of parser.end()) {
    const issue = take(token)
    if (issue !== undefined) return { issue }
  }
  return { tokens }
}

/**
 * Why `text` cannot be handed to a YAML parser, or undefined: `checkText`'s reasons, nesting past
 * `MAX_DEPTH`, or more than one document. Costs one pass of the parser (about 1 s per MB).
 */
export const checkStructure = (text: string): ConfigIssue | undefined => {
  const unfit = checkText(text)
  if (unfit !== undefined) return unfit
  const scanned = tokensOf(text, new YAML.LineCounter())
  return "issue" in scanned ? scanned.issue : undefined
}

/** `YAML.parseDocument` within the limits of `tokensOf`. */
export const parseDocument = (
  text: string,
  lines: YAML.LineCounter,
  options: ParseOptions
): { readonly doc: YAML.Document.Parsed } | { readonly issue: ConfigIssue } => {
  const scanned = tokensOf(text, lines)
  if ("issue" in scanned) return scanned
  // `compose(.., true)` always yields a document, an empty one for empty text; `tokensOf` allowed one.
  const [doc] = new YAML.Composer(options).compose(scanned.tokens, true, text.length)
  return { doc: doc! }
}
