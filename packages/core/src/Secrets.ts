import * as Context from "effect/Context"
import * as Redacted from "effect/Redacted"
import { secretForms } from "./internal/encodings.js"
import { connectionStringSecrets, urlSecrets } from "./internal/urls.js"

export { type UrlParts, authorityProblem, redactUrl, splitUrl } from "./internal/urls.js"
export { secretForms }

/**
 * Secrets shorter than this are not scrubbed: a short one also occurs in ordinary text (a year, a word, an
 * id), and masking it there would corrupt timestamps and ids in dead letters and checkpoints. Redacted
 * values are still never printed by the runner itself; only what a far end echoes is left as it is.
 */
export const MIN_LENGTH = 8

/** What a scrubbed secret is replaced with. */
export const MASK = "***"

/** Removes secrets, in every form of `secretForms`, from text and from the strings of a value. */
export interface Scrubber {
  readonly scrub: (text: string) => string
  /** A copy of a JSON-like value with every string (object keys too) scrubbed; other values are kept. */
  readonly scrubValue: <A>(value: A) => A
}

/**
 * The scrubber of what is about to be written (logs, dead letters, checkpoints). The runner provides the
 * one of the loaded pipeline file; without one, nothing is scrubbed.
 */
export class SecretScrubber extends Context.Tag("@featbit-export/core/SecretScrubber")<SecretScrubber, Scrubber>() {}

/** Scrubs nothing. */
export const none: Scrubber = { scrub: (text) => text, scrubValue: (value) => value }

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

export interface MakeOptions {
  /** Secrets shorter than this are left out (default `MIN_LENGTH`). */
  readonly minLength?: number
  /** Text the user's file shows anyway (a user name, a database): a secret equal to one hides nothing. */
  readonly visible?: ReadonlySet<string>
  /** What a secret is replaced with (default `MASK`). */
  readonly mask?: string
}

/** A scrubber of these secrets, each in every form of `secretForms`. */
export const make = (secrets: Iterable<string>, options: MakeOptions = {}): Scrubber => {
  const minLength = options.minLength ?? MIN_LENGTH
  const forms = new Set<string>()
  for (const secret of secrets) {
    if (secret.length < Math.max(1, minLength) || options.visible?.has(secret) === true) continue
    for (const form of secretForms(secret)) forms.add(form)
  }
  if (forms.size === 0) return none
  // One alternation, longest first: at each position the longest form that matches is replaced whole.
  const pattern = new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|"), "g")
  const mask = options.mask ?? MASK
  const scrub = (text: string): string => text.replace(pattern, () => mask)
  const scrubValue = <A>(value: A): A => {
    if (typeof value === "string") return scrub(value) as A
    if (Array.isArray(value)) return value.map(scrubValue) as A
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {}
      for (const [key, item] of Object.entries(value)) out[scrub(key)] = scrubValue(item)
      return out as A
    }
    return value
  }
  return { scrub, scrubValue }
}

/** A secret found in a configuration, and where. */
export interface Found {
  readonly path: ReadonlyArray<string | number>
  readonly value: string
}

export interface Collected {
  /** Every `Redacted` string, the credentials of every URL and connection string, and `user:password` pairs. */
  readonly secrets: ReadonlyArray<Found>
  /** The plain strings of the configuration: what `validate` shows anyway. */
  readonly visible: ReadonlySet<string>
}

/** The credentials inside one text: of a URL, or of a `Key=value;` connection string. */
const credentialsIn = (text: string): Array<string> => [...urlSecrets(text), ...connectionStringSecrets(text)]

/**
 * The secrets of decoded plugin configurations (or anything holding them): every `Redacted` value, the
 * password of every URL-like value (userinfo, `?password=`), the `SharedAccessKey=` of every connection
 * string, in a value that is `Redacted` or not, and `user:password` where a block has a user and a
 * `Redacted` password, as HTTP Basic sends them.
 */
export const collect = (value: unknown): Collected => {
  const secrets: Array<Found> = []
  const visible = new Set<string>()
  const walk = (node: unknown, path: ReadonlyArray<string | number>): void => {
    if (Redacted.isRedacted(node)) {
      const secret = Redacted.value(node)
      if (typeof secret !== "string") return
      secrets.push({ path, value: secret })
      for (const part of credentialsIn(secret)) secrets.push({ path, value: part })
      return
    }
    if (typeof node === "string") {
      const parts = credentialsIn(node)
      if (parts.length === 0) visible.add(node)
      for (const part of parts) secrets.push({ path, value: part })
      return
    }
    if (Array.isArray(node)) return node.forEach((item, i) => walk(item, [...path, i]))
    if (typeof node !== "object" || node === null) return
    const record = node as Record<string, unknown>
    for (const [key, item] of Object.entries(record)) walk(item, [...path, key])
    const user = record["username"] ?? record["user"]
    const password = record["password"]
    if (typeof user === "string" && Redacted.isRedacted(password) && typeof Redacted.value(password) === "string") {
      secrets.push({ path: [...path, "password"], value: `${user}:${Redacted.value(password) as string}` })
    }
  }
  walk(value, [])
  return { secrets, visible }
}

/**
 * The scrubber of a configuration's secrets (see `collect`), and the secrets it cannot scrub because they
 * are shorter than `MIN_LENGTH` (empty ones, which hide nothing, are not listed).
 */
export const fromConfig = (value: unknown, options: Omit<MakeOptions, "visible"> = {}): { readonly scrubber: Scrubber; readonly tooShort: ReadonlyArray<Found> } => {
  const { secrets, visible } = collect(value)
  const minLength = options.minLength ?? MIN_LENGTH
  const tooShort = secrets.filter((found) => found.value.length > 0 && found.value.length < minLength && !visible.has(found.value))
  // One warning per key: a URL gives its password several times (as written, decoded, with its user).
  const seen = new Set<string>()
  const unique = tooShort.filter((found) => !seen.has(found.path.join(".")) && seen.add(found.path.join(".")))
  return { scrubber: make(secrets.map((found) => found.value), { minLength, visible }), tooShort: unique }
}

const made = new WeakMap<ReadonlyArray<string>, Map<string, Scrubber>>()

/**
 * `make(secrets, options)`, made once per list and options: a plugin keeps the list of its secrets for its
 * lifetime and scrubs every message with it.
 */
export const scrubberOf = (secrets: ReadonlyArray<string>, options: Omit<MakeOptions, "visible"> = {}): Scrubber => {
  let byOptions = made.get(secrets)
  if (byOptions === undefined) made.set(secrets, (byOptions = new Map()))
  const key = `${options.minLength ?? MIN_LENGTH}\u0000${options.mask ?? MASK}`
  let scrubber = byOptions.get(key)
  if (scrubber === undefined) byOptions.set(key, (scrubber = make(secrets, options)))
  return scrubber
}

/**
 * At most `max` characters of what a server, driver or proxy said, on one line: scrubbed before it is cut,
 * since a cut secret is no longer recognised.
 */
export const excerpt = (text: string, scrubber: Scrubber, max = 300): string => {
  const line = scrubber.scrub(text).replace(/\s+/g, " ").trim()
  return line.length > max ? `${line.slice(0, max)}…` : line
}
