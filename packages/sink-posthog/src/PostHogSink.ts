import { promisify } from "node:util"
import * as zlib from "node:zlib"
import {
  batchPlans,
  type ExportEvent,
  type HttpAnswer,
  type RejectedEvent,
  Secrets,
  type Sink,
  type SinkBatch,
  SinkError,
  accepted,
  answerExcerpt,
  type SerializedEvent,
  serializeEvents,
  configSecretForms,
  defineSink,
  parseRetryAfter,
  postForAnswer,
  sendPending
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { hostIssues } from "./Endpoint.js"
import { POSTHOG_MAPPABLE, eventFields, mappedNames } from "./mapped.js"
import { POSTHOG_LIMITS, PostHogSinkConfig, SPLIT_BUDGET, resolveHost } from "./PostHogSinkConfig.js"
import { isUuid, render, renderEvent } from "./render.js"
import { version } from "./version.js"

const PLUGIN = "posthog"
const gzip = promisify(zlib.gzip)

type Item = SerializedEvent

/** One `/batch/` request of a batch, remembered across the engine's retries of that batch. */
interface Request {
  readonly items: ReadonlyArray<Item>
  done: boolean
  rejected: ReadonlyArray<RejectedEvent>
}

/** How a batch is sent: its requests, and the events refused before sending. */
interface Plan {
  readonly requests: ReadonlyArray<Request>
  readonly rejected: ReadonlyArray<RejectedEvent>
}

type Answer = HttpAnswer

/** Items `[from, to)` of a request. */
interface Part {
  readonly items: ReadonlyArray<Item>
  readonly from: number
  readonly to: number
}

/** What the halving of one refused request has learned and may still spend. */
interface Search {
  /** The endpoint took something (a part of this request, or the probe): a lone refused event is at fault. */
  accepts: boolean
  /** Requests it may still send. */
  budget: number
}

const isOk = (answer: Answer): boolean => answer.status >= 200 && answer.status < 300

/** 400 and 413: PostHog's answers to a request it will not take as it is (one invalid event refuses it whole). */
const isRefusal = (answer: Answer): boolean => answer.status === 400 || answer.status === 413

/**
 * What capture answers to the probe (one event with an empty name) once it has accepted the key: 400
 * `event submitted with an empty event name` (or the JSON code `missing_event_name`), or 200 from a
 * capture that drops such events silently.
 */
const probeAccepted = (answer: Answer): boolean =>
  isOk(answer) || (answer.status === 400 && /empty event name|missing_event_name/i.test(answer.text))

const size = (part: Part): number => part.to - part.from

const halves = (part: Part): [Part, Part] => {
  const middle = part.from + Math.ceil(size(part) / 2)
  return [
    { items: part.items, from: part.from, to: middle },
    { items: part.items, from: middle, to: part.to }
  ]
}

/**
 * `type: posthog`: sends every event to PostHog's capture `/batch/` endpoint with its FeatBit id as `uuid`,
 * flag evaluations as PostHog's own `$feature_flag_called`.
 */
export const PostHogSink = defineSink({
  type: PLUGIN,
  description: "PostHog capture API: /batch/, uuid = FeatBit id, flag evaluations as $feature_flag_called",
  config: PostHogSinkConfig,
  configIssues: hostIssues,
  mappable: POSTHOG_MAPPABLE,
  render: (config) => render(config),
  make: (config) =>
    Effect.sync(() => {
      const target = `${resolveHost(config.host)}/batch/`
      const url = Secrets.redactUrl(target)
      const apiKey = Redacted.value(config.apiKey)
      const secrets = configSecretForms(config)
      const said = (answer: Answer): string => answerExcerpt(answer.text, secrets)
      const head = `{"api_key":${JSON.stringify(apiKey)},${config.historicalMigration ? `"historical_migration":true,` : ""}"batch":[`
      // No sent_at: capture would move every timestamp by (now - sent_at), so a resend could land on another
      // day, under another ReplacingMergeTree key, and never merge with the first copy.
      const tail = "]}"
      const envelopeBytes = Buffer.byteLength(head) + tail.length
      const maxEventBytes = Math.min(POSTHOG_LIMITS.maxBytesPerEvent, config.maxBytesPerRequest - envelopeBytes)
      const headers = {
        "content-type": "application/json",
        "user-agent": `featbit-export-sink-posthog/${version}`,
        ...(config.gzip ? { "content-encoding": "gzip" } : {})
      }
      /** Batches with a failed request: which of their requests were acknowledged, so a retry sends only the rest. */
      const planned = batchPlans<Plan>()
      /** Set once the endpoint refused the probe too: every write still running fails with it. */
      let refusedAll: SinkError | undefined
      /**
       * Taken by a halving that has no evidence yet that the endpoint takes anything: requests refused at the
       * same time wait for the first one's verdict instead of each splitting and probing.
       */
      const verdict = Effect.unsafeMakeSemaphore(1)
      let warnedTooLarge = false
      let warnedQuota = false

      const bodyOf = (part: Part): string => {
        let body = head
        for (let i = part.from; i < part.to; i++) body += (i === part.from ? "" : ",") + part.items[i]!.json
        return body + tail
      }

      const makePlan = ({ events, fields }: SinkBatch): Plan => {
        const { groups, rejected } = serializeEvents(events, {
          refuse: (event) =>
            isUuid(event.id)
              ? undefined
              : `its id ${JSON.stringify(event.id.slice(0, 80))} is not a UUID (8-4-4-4-12 hex): PostHog refuses a request holding an event whose uuid does not parse, and the FeatBit id is the only dedupe key`,
          render: (event) => {
            const mapped = eventFields(fields?.(event))
            return { json: JSON.stringify(renderEvent(config, event, mapped)), mapped }
          },
          tooLarge: (bytes, mapped) =>
            `its PostHog event is ${bytes} bytes${mapped === undefined ? "" : ` (with its ${mappedNames(mapped)} from sink.map)`}, over the limit of ${maxEventBytes} bytes per event (PostHog discards events over 1 MB)`,
          maxEventBytes,
          maxEventsPerRequest: config.maxEventsPerRequest,
          maxBytesPerRequest: config.maxBytesPerRequest,
          envelopeBytes
        })
        const requests = groups.map(
          (group): Request => ({ items: group, done: false, rejected: [] })
        )
        return { requests, rejected }
      }

      const to = { plugin: PLUGIN, target, url, timeout: config.requestTimeout, forms: secrets }
      const post = (body: string): Effect.Effect<Answer, SinkError> =>
        postForAnswer(to, async () => ({ headers, body: config.gzip ? await gzip(body, { level: 1 }) : body })).pipe(
          Effect.tap((answer) => {
            if (warnedQuota || !isOk(answer) || !answer.text.includes("quota_limited")) return Effect.void
            let limited: unknown
            try {
              limited = (JSON.parse(answer.text) as { quota_limited?: unknown }).quota_limited
            } catch {
              return Effect.void
            }
            if (!Array.isArray(limited) || limited.length === 0) return Effect.void
            warnedQuota = true
            return Effect.logWarning(`sink ${PLUGIN}: ${url} says the project is quota limited for ${limited.join(", ")}: PostHog may drop those events; check its billing limits`)
          })
        )

      const postPart = (part: Part): Effect.Effect<Answer, SinkError> =>
        Effect.suspend(() => (refusedAll === undefined ? post(bodyOf(part)) : Effect.fail(refusedAll)))

      /** The error of an answer that is neither a success nor a refusal of the content (400, 413). */
      const failureOf = (answer: Answer): SinkError => {
        const { status } = answer
        const quoted = said(answer)
        const saying = quoted === "" ? "" : `: ${quoted}`
        if (status === 401 || status === 403) {
          return SinkError.fatal(
            PLUGIN,
            `PostHog refused the API key (HTTP ${status} from ${url}${saying}): check sink.apiKey, it must be the project API key (phc_...) of a project on this host, not a personal API key`
          )
        }
        if (status === 404 || status === 405) return SinkError.fatal(PLUGIN, `${url} is not a PostHog capture endpoint (HTTP ${status}): check sink.host`)
        if (status === 429) {
          const why = /billing/i.test(answer.text) ? "PostHog's billing limit for this project is reached" : "PostHog is rate limiting"
          return SinkError.transient(PLUGIN, `${why} (HTTP 429 from ${url}${saying})`, { retryAfter: parseRetryAfter(answer.retryAfter) })
        }
        if (status === 408 || status >= 500) {
          return SinkError.transient(PLUGIN, `PostHog answered HTTP ${status} from ${url}${saying}`, { retryAfter: parseRetryAfter(answer.retryAfter) })
        }
        return SinkError.fatal(PLUGIN, `PostHog answered HTTP ${status} from ${url}${saying}: check sink.host and any proxy in front of it`)
      }

      /**
       * One event with an empty name, which capture refuses (nothing is stored) only after it has accepted
       * the key: the cheapest request that says whether the endpoint and the key work without sending an event.
       */
      const probe = post(`${head}{"event":"","distinct_id":"featbit-export-check"}${tail}`)

      const refusedEverything = (answer: Answer, refusal?: Answer): SinkError => {
        const quoted = said(answer)
        const what = refusal === undefined ? `answers HTTP ${answer.status}` : `answers HTTP ${refusal.status} to whole requests and HTTP ${answer.status}`
        return SinkError.fatal(
          PLUGIN,
          `${url} ${what} to a probe that PostHog's capture refuses only as an event without a name${quoted === "" ? "" : ` (${quoted})`}, so the refusal is the endpoint's, not the events': check sink.host and any proxy in front of it`
        )
      }

      /** Whether the endpoint takes anything at all: asked once per refused request, with the probe. */
      const askProbe = (refusal: Answer, search: Search): Effect.Effect<void, SinkError> =>
        Effect.gen(function* () {
          if (refusedAll !== undefined) return yield* Effect.fail(refusedAll)
          if (search.accepts) return
          const answer = yield* probe
          if (probeAccepted(answer)) {
            search.accepts = true
            return
          }
          if (!isRefusal(answer)) return yield* Effect.fail(failureOf(answer))
          refusedAll = refusedEverything(answer, refusal)
          return yield* Effect.fail(refusedAll)
        })

      const reasonOf = (refusal: Answer): string => {
        const quoted = said(refusal)
        return `PostHog refused the event: HTTP ${refusal.status}${quoted === "" ? "" : ` ${quoted}`}`
      }

      const eventsOf = (part: Part): Array<ExportEvent> => part.items.slice(part.from, part.to).map((item) => item.event)

      /**
       * Finds what PostHog refuses in a refused part by halving it, down to single events, which are refused
       * for good once the endpoint has taken something (a part, or the probe). Past the budget, a part still
       * refused is dead-lettered whole with the destination's reason.
       */
      const isolate = (part: Part, refusal: Answer, search: Search): Effect.Effect<ReadonlyArray<RejectedEvent>, SinkError> =>
        Effect.gen(function* () {
          if (size(part) === 1 || search.budget < 2) {
            yield* askProbe(refusal, search)
            const reason =
              size(part) === 1
                ? reasonOf(refusal)
                : `${reasonOf(refusal)} (refused in a request of ${size(part)} events the sink stopped halving after ${SPLIT_BUDGET} requests)`
            return eventsOf(part).map((event) => ({ event, reason }))
          }
          const split = Effect.gen(function* () {
            if (refusedAll !== undefined) return yield* Effect.fail(refusedAll)
            search.budget -= 2
            const parts = halves(part)
            const answers = yield* Effect.forEach(parts, postPart, { concurrency: 2 })
            const failure = answers.find((answer) => !isOk(answer) && !isRefusal(answer))
            if (failure !== undefined) return yield* Effect.fail(failureOf(failure))
            if (answers.some(isOk)) {
              search.accepts = true
              if (refusal.status === 413 && !warnedTooLarge) {
                warnedTooLarge = true
                yield* Effect.logWarning(
                  `sink ${PLUGIN}: ${url} refused a request of ${Buffer.byteLength(bodyOf(part))} bytes with HTTP 413 and took its halves: lower sink.maxBytesPerRequest (now ${config.maxBytesPerRequest}) to what the endpoint, or a proxy in front of it, accepts`
                )
              }
            } else if (!search.accepts) yield* askProbe(refusal, search)
            return { parts, answers }
          })
          const { parts, answers } = yield* search.accepts ? split : verdict.withPermits(1)(split)
          const rejected = yield* Effect.forEach(
            parts.flatMap((half, i) => (isOk(answers[i]!) ? [] : [[half, answers[i]!] as const])),
            ([half, answer]) => isolate(half, answer, search)
          )
          return rejected.flat()
        })

      /** Sends one request of a batch; the events PostHog refused for good. */
      const send = (request: Request): Effect.Effect<ReadonlyArray<RejectedEvent>, SinkError> =>
        Effect.gen(function* () {
          const whole: Part = { items: request.items, from: 0, to: request.items.length }
          const answer = yield* postPart(whole)
          if (isOk(answer)) return []
          if (!isRefusal(answer)) return yield* Effect.fail(failureOf(answer))
          return yield* isolate(whole, answer, { accepts: false, budget: SPLIT_BUDGET })
        })

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return accepted
          if (refusedAll !== undefined) return yield* Effect.fail(refusedAll)
          return yield* planned(batch, Effect.sync(() => makePlan(batch)), (plan) =>
            Effect.map(sendPending(PLUGIN, plan.requests, send, config.concurrency), (sent) => {
              const rejected = [...plan.rejected, ...sent]
              return rejected.length === 0 ? accepted : { rejected }
            })
          )
        })

      const check = Effect.gen(function* () {
        const answer = yield* probe
        if (probeAccepted(answer)) {
          return [
            `${url} is a PostHog capture endpoint that accepted the configured API key (HTTP ${answer.status} to a probe event without a name, which it does not store)`
          ]
        }
        if (isRefusal(answer)) return yield* Effect.fail(refusedEverything(answer))
        return yield* Effect.fail(failureOf(answer))
      })

      const sink: Sink = { write, check }
      return sink
    })
})
