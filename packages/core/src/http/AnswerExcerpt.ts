import * as Secrets from "../Secrets.js"

/**
 * The forms in which secrets can come back in an HTTP answer (a proxy echoing the request): each non-empty
 * secret as written, JSON-escaped, URL-encoded and base64 (`Secrets.secretForms`). Longest first, so a form
 * that contains another is replaced whole.
 */
export const answerSecretForms = (secrets: Iterable<string>): ReadonlyArray<string> =>
  [...new Set([...secrets].filter((secret) => secret !== "").flatMap((secret) => Secrets.secretForms(secret)))].sort((a, b) => b.length - a.length)

/** `answerSecretForms` of every secret of a configuration (`Secrets.collect`) and of `extra` (credentials as sent, say). */
export const configSecretForms = (config: unknown, extra: Iterable<string> = []): ReadonlyArray<string> =>
  answerSecretForms([...Secrets.collect(config).secrets.map((found) => found.value), ...extra])

/** What a secret form in a quoted answer is replaced with. */
export const EXCERPT_MASK = "[redacted]"

/**
 * An answer's body as one short line to quote: every form in `forms` (see `answerSecretForms`) replaced in the
 * whole body before anything is cut, so no part of a secret survives a cut; markup stripped; at most `max`
 * characters.
 */
export const answerExcerpt = (text: string, forms: ReadonlyArray<string>, max = 160): string => {
  let out = text
  for (const form of forms) out = out.split(form).join(EXCERPT_MASK)
  const line = out
    .replace(/<[^>]*>/g, " ")
    .replace(/\s+/g, " ")
    .trim()
  return line.length > max ? `${line.slice(0, max)}…` : line
}
