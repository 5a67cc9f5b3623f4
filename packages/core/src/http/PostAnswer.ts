import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { SinkError } from "../Errors.js"
import { answerExcerpt } from "./AnswerExcerpt.js"

/** What an HTTP endpoint answered: its status, its `Retry-After` header, and its body as text. */
export interface HttpAnswer {
  readonly status: number
  readonly retryAfter: string | null
  readonly text: string
}

/** The headers and body of a POST. */
export interface PostRequest {
  readonly headers: Record<string, string>
  readonly body: string | Buffer
}

/** Where a sink posts, and how its failures are told. */
export interface PostTarget {
  /** The plugin the errors are of. */
  readonly plugin: string
  /** The URL requested. */
  readonly target: string
  /** The URL as messages name it (`Secrets.redactUrl` of `target`). */
  readonly url: string
  /** How long a request may take, answer read included (the setting `sink.requestTimeout`). */
  readonly timeout: Duration.Duration
  /** The secret forms scrubbed from a failure's message (`answerSecretForms`). */
  readonly forms: ReadonlyArray<string>
}

/** An error and the error it wraps, on one line. */
const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    const inner = (cause as Error & { cause?: unknown }).cause
    return inner instanceof Error ? `${cause.message} (${inner.message})` : cause.message
  }
  return String(cause)
}

/**
 * POSTs to `to.target` with the headers and body of `init` (made inside the attempt, so a body that fails to
 * encode fails like the request) and reads the whole answer. A request that fails, or is not answered within
 * `to.timeout`, is a transient `SinkError` whose message names `to.url` and quotes no secret.
 */
export const postForAnswer = (
  to: PostTarget,
  init: () => PostRequest | Promise<PostRequest>
): Effect.Effect<HttpAnswer, SinkError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const { headers, body } = await init()
      const response = await fetch(to.target, { method: "POST", headers, body, signal })
      const text = await response.text()
      return { status: response.status, retryAfter: response.headers.get("retry-after"), text }
    },
    // undici's messages quote the URL it was given, credentials and all.
    catch: (cause) => SinkError.transient(to.plugin, `the request to ${to.url} failed: ${answerExcerpt(describe(cause), to.forms, 300)}`, { cause })
  }).pipe(
    // The deadline is a fiber timer: when it fires the fiber is interrupted, which aborts the fetch's signal.
    // Not AbortSignal.timeout: on Node 20 its timer goes with the signal when that is collected, and a request
    // to a silent endpoint then waits for undici's 5 minutes.
    Effect.timeoutFail({
      duration: to.timeout,
      onTimeout: () => SinkError.transient(to.plugin, `${to.url} did not answer within ${Duration.format(to.timeout)} (sink.requestTimeout)`)
    })
  )
