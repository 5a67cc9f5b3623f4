import {
  batchPlans,
  type HttpAnswer,
  type RejectedEvent,
  Secrets,
  type Sink,
  type SinkBatch,
  SinkError,
  accepted,
  answerExcerpt,
  batchFailure,
  type SerializedEvent,
  serializeEvents,
  configSecretForms,
  defineSink,
  parseRetryAfter,
  postForAnswer
} from "@featbit-export/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { AmplitudeSinkConfig, maxBytesOf, resolveUrl } from "./AmplitudeSinkConfig.js"
import { configIssues } from "./Endpoint.js"
import { AMPLITUDE_MAPPABLE, amplitudeFields, mappedNames } from "./mapped.js"
import { render, renderEvent } from "./render.js"

const PLUGIN = "amplitude"

type Item = SerializedEvent

/**
 * One request of a batch, remembered across the engine's retries of that batch: `pending` holds the
 * items not yet acknowledged or refused, so a retry sends only those.
 */
interface Request {
  readonly items: ReadonlyArray<Item>
  readonly pending: Set<number>
  readonly rejected: Array<RejectedEvent>
}

/** How a batch is sent: its requests, and the events refused before sending (larger than a request may be). */
interface Plan {
  readonly requests: ReadonlyArray<Request>
  readonly rejected: ReadonlyArray<RejectedEvent>
}

type Answer = HttpAnswer

/** The longest answer body quoted in a message. */
const QUOTED = 200

type Json = Record<string, unknown>
const isRecord = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value)

const parseJson = (text: string): Json | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    return isRecord(value) ? value : undefined
  } catch {
    return undefined
  }
}

/** The index maps of a 400 and what each says of its events, as "<what> <field>". */
const INDEX_MAPS = [
  ["events_with_invalid_fields", "invalid"],
  ["events_with_missing_fields", "missing"],
  ["events_with_invalid_id_lengths", "too short (under options.min_id_length)"]
] as const

/**
 * The events a 400 refuses, by their index in the request, each with what was wrong with it. Amplitude's
 * HTTP V2 page says a map lists the first event with each error, the Batch page all of them: either way the
 * listed ones are refused and the others are sent again.
 */
export const refusedIndexes = (body: Json, count: number): Map<number, Array<string>> => {
  const out = new Map<number, Array<string>>()
  const note = (index: unknown, what: string) => {
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= count) return
    const list = out.get(index)
    if (list === undefined) out.set(index, [what])
    else if (!list.includes(what)) list.push(what)
  }
  for (const [key, what] of INDEX_MAPS) {
    const map = body[key]
    if (!isRecord(map)) continue
    for (const [field, indexes] of Object.entries(map)) {
      if (Array.isArray(indexes)) for (const index of indexes) note(index, `${field} ${what}`)
    }
  }
  const silenced = body["silenced_events"]
  if (Array.isArray(silenced)) for (const index of silenced) note(index, "its device or user is silenced by Amplitude (over the events-per-second threshold for too long)")
  return out
}

/**
 * `type: amplitude`: sends every event to Amplitude's HTTP V2 API (`POST /2/httpapi`) or Batch API
 * (`POST /batch`) with its FeatBit id as `insert_id`, so Amplitude ignores re-sends.
 */
export const AmplitudeSink = defineSink({
  type: PLUGIN,
  description: "Amplitude HTTP V2 (/2/httpapi) or Batch (/batch) API: one event per FeatBit event, insert_id = FeatBit id",
  config: AmplitudeSinkConfig,
  configIssues,
  mappable: AMPLITUDE_MAPPABLE,
  render: (config) => render(config),
  make: (config) =>
    Effect.sync(() => {
      const target = resolveUrl(config)
      const url = Secrets.redactUrl(target)
      const apiKey = Redacted.value(config.apiKey)
      const secrets = configSecretForms(config)
      const said = (answer: Answer): string => answerExcerpt(answer.text, secrets, QUOTED)
      const maxBytes = maxBytesOf(config)
      const head = `{"api_key":${JSON.stringify(apiKey)},"events":[`
      // FeatBit user keys can be shorter than Amplitude's default minimum of 5 characters.
      const tail = `],"options":{"min_id_length":1}}`
      const overhead = Buffer.byteLength(head) + Buffer.byteLength(tail)
      const maxEventBytes = maxBytes - overhead
      /** Batches with a failed request: what of their requests is left, so a retry sends only that. */
      const planned = batchPlans<Plan>()
      /** Set once a failure says nothing more can be sent (a wrong key): every write still running fails with it. */
      let stopped: SinkError | undefined

      const makePlan = ({ events, fields }: SinkBatch): Plan => {
        const { groups, rejected } = serializeEvents(events, {
          render: (event) => {
            const mapped = amplitudeFields(fields?.(event))
            return { json: JSON.stringify(renderEvent(config, event, mapped)), mapped }
          },
          tooLarge: (bytes, mapped) =>
            `its Amplitude event is ${bytes} bytes${mapped === undefined ? "" : ` (with its ${mappedNames(mapped)} from sink.map)`}, over the ${maxEventBytes} bytes one request may hold (sink.maxBytesPerRequest ${maxBytes} less the request's envelope)`,
          maxEventBytes,
          maxEventsPerRequest: config.maxEventsPerRequest,
          maxBytesPerRequest: maxBytes,
          envelopeBytes: overhead
        })
        const requests = groups.map(
          (group): Request => ({ items: group, pending: new Set(group.map((_, i) => i)), rejected: [] })
        )
        return { requests, rejected }
      }

      const to = { plugin: PLUGIN, target, url, timeout: config.requestTimeout, forms: secrets }
      const post = (body: string): Effect.Effect<Answer, SinkError> => postForAnswer(to, () => ({ headers: { "content-type": "application/json" }, body }))

      const bodyOf = (request: Request, indexes: ReadonlyArray<number>): string => head + indexes.map((i) => request.items[i]!.json).join(",") + tail

      const stop = (error: SinkError): SinkError => {
        stopped ??= error
        return error
      }

      /** The error of an answer that is neither a success, a 400 listing events, nor a 413. */
      const failureOf = (answer: Answer, body: Json | undefined): SinkError => {
        const { status } = answer
        const quoted = said(answer)
        const error = typeof body?.["error"] === "string" ? body["error"] : ""
        if (status === 429) {
          const throttled = Array.isArray(body?.["throttled_events"]) ? (body["throttled_events"] as Array<unknown>).length : undefined
          const quota = [body?.["exceeded_daily_quota_users"], body?.["exceeded_daily_quota_devices"]].some((map) => isRecord(map) && Object.keys(map).length > 0)
          const header = parseRetryAfter(answer.retryAfter)
          const wait = header ?? config.throttleWait
          return SinkError.transient(
            PLUGIN,
            `Amplitude is throttling (HTTP 429 from ${url}${throttled === undefined ? "" : `, ${throttled} events throttled`}${quota ? "; some users or devices are over their daily quota" : ""}): waiting ${Duration.format(wait)}${header === undefined ? " (sink.throttleWait; Amplitude sent no Retry-After)" : " (its Retry-After)"}`,
            { retryAfter: wait }
          )
        }
        if (status === 400 && /invalid api key/i.test(error)) {
          return stop(SinkError.fatal(PLUGIN, `Amplitude refused the API key (HTTP 400 "Invalid API key" from ${url}): check sink.apiKey, it must be the API key of the Amplitude project${config.endpoint === "us" ? " (an EU project needs endpoint: eu)" : ""}`))
        }
        if (status === 400 && body?.["missing_field"] === "api_key") {
          return stop(SinkError.fatal(PLUGIN, `Amplitude says the API key is missing (HTTP 400 from ${url}): set sink.apiKey to the project's API key`))
        }
        if (status === 400) {
          return stop(
            SinkError.fatal(
              PLUGIN,
              `${url} refused a whole request with HTTP 400 and listed no event${quoted === "" ? "" : ` (${quoted})`}, so the refusal is the endpoint's, not the events': check sink.endpoint and any proxy in front of it`
            )
          )
        }
        if (status === 401 || status === 403) {
          return stop(
            SinkError.fatal(
              PLUGIN,
              `Amplitude refused the request (HTTP ${status} from ${url}${quoted === "" ? "" : `: ${quoted}`}): its firewall blocks some headers, bodies and regions; check sink.endpoint and that this host may reach Amplitude`
            )
          )
        }
        if (status === 404) return stop(SinkError.fatal(PLUGIN, `${url} does not exist (HTTP 404): check sink.endpoint and sink.api`))
        if (status === 408 || status >= 500) {
          return SinkError.transient(PLUGIN, `Amplitude answered HTTP ${status} from ${url}${quoted === "" ? "" : `: ${quoted}`}`, {
            retryAfter: parseRetryAfter(answer.retryAfter)
          })
        }
        return stop(SinkError.fatal(PLUGIN, `Amplitude answered HTTP ${status} from ${url}${quoted === "" ? "" : `: ${quoted}`}: check sink.endpoint`))
      }

      /**
       * Sends `indexes` of a request until each is acknowledged or refused: a 400 listing events refuses
       * those and sends the rest again (Amplitude may have ingested them: insert_id makes that harmless);
       * a 413 halves the request. Acknowledged and refused items leave `request.pending` as they go.
       */
      const sendIndexes = (request: Request, indexes: ReadonlyArray<number>): Effect.Effect<void, SinkError> =>
        Effect.gen(function* () {
          let left = indexes
          while (left.length > 0) {
            if (stopped !== undefined) return yield* Effect.fail(stopped)
            const answer = yield* post(bodyOf(request, left))
            if (answer.status >= 200 && answer.status < 300) {
              for (const i of left) request.pending.delete(i)
              return
            }
            if (answer.status === 413) {
              if (left.length === 1) {
                const i = left[0]!
                request.rejected.push({
                  event: request.items[i]!.event,
                  reason: `Amplitude refused the event as too large: a request of it alone (${Buffer.byteLength(bodyOf(request, left))} bytes) was answered HTTP 413${said(answer) === "" ? "" : ` ${said(answer)}`}`
                })
                request.pending.delete(i)
                return
              }
              const middle = Math.ceil(left.length / 2)
              yield* Effect.forEach([left.slice(0, middle), left.slice(middle)], (half) => sendIndexes(request, half), { concurrency: 2, discard: true })
              return
            }
            const body = parseJson(answer.text)
            if (answer.status !== 400 || body === undefined) return yield* Effect.fail(failureOf(answer, body))
            const refused = refusedIndexes(body, left.length)
            if (refused.size === 0) {
              // A 400 for silenced devices may list throttled events only: those wait, like a 429's.
              if (Array.isArray(body["throttled_events"]) && body["throttled_events"].length > 0) {
                return yield* Effect.fail(failureOf({ ...answer, status: 429 }, body))
              }
              return yield* Effect.fail(failureOf(answer, body))
            }
            const error = typeof body["error"] === "string" ? answerExcerpt(body["error"], secrets, 120) : "refused"
            for (const [position, problems] of refused) {
              const i = left[position]!
              request.rejected.push({ event: request.items[i]!.event, reason: `Amplitude refused the event (HTTP 400 "${error}"): ${problems.join("; ")}` })
              request.pending.delete(i)
            }
            left = left.filter((_, position) => !refused.has(position))
          }
        })

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return accepted
          if (stopped !== undefined) return yield* Effect.fail(stopped)
          return yield* planned(batch, Effect.sync(() => makePlan(batch)), (plan) =>
            Effect.gen(function* () {
              const pending = plan.requests.filter((request) => request.pending.size > 0)
              const results = yield* Effect.forEach(
                pending,
                (request) => Effect.either(sendIndexes(request, [...request.pending].sort((a, b) => a - b))),
                { concurrency: config.concurrency }
              )
              const failure = batchFailure(PLUGIN, results.flatMap((result) => (Either.isLeft(result) ? [result.left] : [])), pending.length)
              if (failure !== undefined) return yield* Effect.fail(failure)
              const rejected = [...plan.rejected, ...plan.requests.flatMap((request) => request.rejected)]
              return rejected.length === 0 ? accepted : { rejected }
            })
          )
        })

      /**
       * A request with the key and no event: Amplitude checks the key before the events, so "events is
       * missing" proves the key is taken, and nothing is ingested.
       */
      const check = Effect.gen(function* () {
        const answer = yield* post(head + tail)
        const body = parseJson(answer.text)
        if (answer.status >= 200 && answer.status < 300) return [`${url} accepted a request with the configured API key and no event (HTTP ${answer.status})`]
        if (answer.status === 400 && body?.["missing_field"] === "events") {
          return [`${url} took the configured API key: it answered a request with no event "missing field: events" (HTTP 400), so nothing was ingested`]
        }
        return yield* Effect.fail(failureOf(answer, body))
      })

      const sink: Sink = { write, check }
      return sink
    })
})
