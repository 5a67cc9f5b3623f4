/**
 * The forms in which a secret can come back from a far end or a library: as written, JSON-escaped (as
 * JavaScript, PHP, Python and Go escape it, and escaped twice), URL-encoded (encodeURIComponent, lowercase
 * hex, form encoding, encodeURI) and base64 (standard and URL-safe, padded or not) of the secret, of
 * `secret:` and of `:secret`, as HTTP Basic builds credentials.
 *
 * Base64 of a longer text (`user:secret`, a whole header block) holds the secret's own base64 only when the
 * secret starts at a multiple of 3 bytes; otherwise its characters depend on the neighbouring bytes. So the
 * forms also hold, for each of the three alignments, the run of base64 characters that depend on the
 * secret's bytes alone: whatever surrounds the secret, that run is in the encoded text and is removed with
 * it, leaving at most a character or two of the secret's edge bits on each side.
 */

/** The base64 characters that encode `bytes` alone when they start `offset` (0, 1 or 2) bytes into a group of 3. */
const alignedCore = (bytes: Buffer, offset: 0 | 1 | 2): string => {
  const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString("base64")
  const total = offset + bytes.length
  // The characters before this one mix the filler's bits with the secret's first byte.
  const start = [0, 2, 3][offset]!
  // A trailing partial group: 1 byte fills one whole character, 2 bytes fill two; the next one mixes in
  // whatever follows.
  const rest = total % 3
  const end = Math.floor(total / 3) * 4 + (rest === 1 ? 1 : rest === 2 ? 2 : 0)
  return end > start ? encoded.slice(start, end) : ""
}

const urlSafe = (base64: string): string => base64.replace(/\+/g, "-").replace(/\//g, "_")

const base64Forms = (secret: string): Array<string> => {
  const forms: Array<string> = []
  for (const text of [secret, `${secret}:`, `:${secret}`]) {
    const standard = Buffer.from(text, "utf8").toString("base64")
    forms.push(standard, standard.replace(/=+$/, ""), urlSafe(standard), urlSafe(standard).replace(/=+$/, ""))
  }
  const bytes = Buffer.from(secret, "utf8")
  for (const offset of [0, 1, 2] as const) {
    const core = alignedCore(bytes, offset)
    forms.push(core, urlSafe(core))
  }
  return forms
}

const unicodeEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`

const jsonForms = (secret: string): Array<string> => {
  const escaped = JSON.stringify(secret).slice(1, -1)
  return [
    escaped,
    // PHP escapes "/".
    escaped.replace(/\//g, "\\/"),
    // Python (ensure_ascii) escapes everything outside ASCII; Go escapes <, > and & too.
    escaped.replace(/[^\x20-\x7e]/g, unicodeEscape),
    escaped.replace(/[<>&\u2028\u2029]/g, unicodeEscape),
    // A JSON text quoted in another JSON text.
    JSON.stringify(escaped).slice(1, -1)
  ]
}

const urlForms = (secret: string): Array<string> => {
  const component = encodeURIComponent(secret)
  return [
    component,
    component.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    new URLSearchParams([["x", secret]]).toString().slice(2),
    encodeURI(secret)
  ]
}

/**
 * Every form of `secret`, longest first (so that a form containing another is replaced whole). Forms
 * shorter than `minForm` characters are left out: they would match ordinary text.
 */
export const secretForms = (secret: string, minForm = 4): ReadonlyArray<string> => {
  const forms = new Set<string>([secret])
  for (const form of [...jsonForms(secret), ...urlForms(secret), ...base64Forms(secret)]) {
    if (form.length >= minForm) forms.add(form)
  }
  return [...forms].sort((a, b) => b.length - a.length)
}
