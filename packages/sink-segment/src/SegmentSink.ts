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
  answerSecretForms,
  defineSink,
  parseRetryAfter,
  postForAnswer,
  requestPacker,
  sendPending
} from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { endpointIssues } from "./Endpoint.js"
import { SEGMENT_MAPPABLE, type TrackFields, mappedNames, trackFields } from "./mapped.js"
import { type SegmentMessage, render, renderIdentify, renderTrack, trackUserId } from "./render.js"
import { SEGMENT_LIMITS, SegmentSinkConfig, resolveEndpoint } from "./SegmentSinkConfig.js"

const PLUGIN = "segment"

/** The longest `traits.name` an identify keeps when the whole identify is over the per-event limit. */
export const IDENTIFY_NAME_CUT = 1_000

/** One message, serialized once: its JSON bytes are what Segment's limits count and what is sent. */
interface Message {
  readonly json: string
  readonly bytes: number
  /** The event of a track, or the event whose user an identify names. */
  readonly event: ExportEvent
  /** For an identify, the userId it names (the track's, mapped or not); undefined for a track. */
  readonly identifies: string | undefined
}

/**
 * One `/v1/batch` request of a batch, remembered across the engine's retries of that batch. Its messages
 * are joined once into `payload`; a split or a retry slices it instead of rendering or serializing again.
 */
interface Request {
  /** The messages' JSON, joined by commas. */
  readonly payload: string
  /** `ends[i]`: the offset in `payload` just after message i. */
  readonly ends: ReadonlyArray<number>
  readonly messages: ReadonlyArray<Pick<Message, "event" | "identifies">>
  done: boolean
  rejected: ReadonlyArray<RejectedEvent>
}

/** Messages `[from, to)` of a request. */
interface Part {
  readonly request: Request
  readonly from: number
  readonly to: number
}

/** How a batch is sent: its requests, and the events refused before sending (over 32 KB). */
interface Plan {
  readonly requests: ReadonlyArray<Request>
  readonly rejected: ReadonlyArray<RejectedEvent>
  /** What the plan changed or left out that a person should know (identifies cut or not sent). */
  readonly notes: ReadonlyArray<string>
}

type Answer = HttpAnswer

// Bodies stay strings: encoding them to a Buffer first measured slower here, as undici copies a Buffer
// body once more before it streams it.
const envelope = (items: string): string => `{"batch":[${items}],"sentAt":"${new Date().toISOString()}"}`

/** The bytes of a request body around its items. */
const ENVELOPE_BYTES = Buffer.byteLength(envelope(""))

const size = (part: Part): number => part.to - part.from

const bodyOf = (part: Part): string => {
  const { ends, payload } = part.request
  if (part.from === 0 && part.to === ends.length) return envelope(payload)
  const start = part.from === 0 ? 0 : ends[part.from - 1]! + 1
  return envelope(part.to === part.from ? "" : payload.slice(start, ends[part.to - 1]!))
}

const halves = (part: Part): [Part, Part] => {
  const middle = part.from + Math.ceil(size(part) / 2)
  return [
    { request: part.request, from: part.from, to: middle },
    { request: part.request, from: middle, to: part.to }
  ]
}

/**
 * The forms in which a secret (the write key) can come back in an answer (a proxy echoing the request): as
 * written, JSON-escaped, URL-encoded, and base64 (standard and URL-safe, padded or not) of the key, of the
 * Basic credentials `key:` and of `:key`, also inside a longer base64 text (`Secrets.secretForms`). Longest
 * first, so a form that contains another is replaced whole.
 */
export const secretForms = (writeKey: string): ReadonlyArray<string> => answerSecretForms(asBasic(writeKey))

/** A secret, and the Basic credentials `secret:` it is sent as. */
const asBasic = (secret: string): ReadonlyArray<string> => (secret === "" ? [] : [secret, `${secret}:`])

/** A userId for a log line: long ones are cut (the log is for a person, the key is in FeatBit). */
const userLabel = (userId: string, event: ExportEvent): string =>
  `user ${JSON.stringify(userId.length > 80 ? `${userId.slice(0, 80)}…` : userId)} of environment ${event.envId}`

/** The first `max` characters of `text`, without splitting a surrogate pair. */
const cutText = (text: string, max: number): string => {
  let end = Math.min(text.length, max)
  const last = text.charCodeAt(end - 1)
  if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--
  return text.slice(0, end)
}

const toRequest = (messages: ReadonlyArray<Message>): Request => {
  const ends: Array<number> = []
  let at = 0
  for (const message of messages) {
    at += message.json.length
    ends.push(at)
    at += 1
  }
  return {
    // One join per request: the per-message strings can then be collected young.
    payload: messages.map((message) => message.json).join(","),
    ends,
    messages: messages.map(({ event, identifies }) => ({ event, identifies })),
    done: false,
    rejected: []
  }
}

const isOk = (answer: Answer): boolean => answer.status >= 200 && answer.status < 300

/** 400 and 413: Segment's answers to a request it will not take as it is (invalid or too large). */
const isRefusal = (answer: Answer): boolean => answer.status === 400 || answer.status === 413

/**
 * Whether an answer to an empty batch refuses only its emptiness: RudderStack's 400 "Empty batch payload".
 * RudderStack's gateway (whose `/v1/batch` takes Segment's requests) checks the write key first and refuses
 * an empty batch after that, so this answer says what Segment's 200 to an empty batch says: the endpoint
 * took the write key and reads batches, it is not refusing everything.
 */
const refusedAsEmpty = (answer: Answer): boolean => answer.status === 400 && /\bempty batch payload\b/i.test(answer.text)

/** RudderStack's 404 for the write key of a disabled source. */
const sourceDisabled = (answer: Answer): boolean => answer.status === 404 && /\bsource is disabled\b/i.test(answer.text)

/**
 * `type: segment`: sends every event to Segment's HTTP Tracking API (`POST /v1/batch`) with its FeatBit id
 * as `messageId`, so Segment deduplicates re-sends.
 */
export const SegmentSink = defineSink({
  type: PLUGIN,
  description: "Segment HTTP Tracking API: track per event (+ identify once per user), /v1/batch, messageId = FeatBit id",
  config: SegmentSinkConfig,
  configIssues: endpointIssues,
  mappable: SEGMENT_MAPPABLE,
  render: (config) => render(config),
  make: (config) =>
    Effect.sync(() => {
      const base = resolveEndpoint(config.endpoint)
      const target = `${base}/v1/batch`
      // Messages name the endpoint without the password of a userinfo (refused when the file loads, but
      // a plugin can be made without the loader).
      const url = Secrets.redactUrl(target)
      const writeKey = Redacted.value(config.writeKey)
      const authorization = `Basic ${Buffer.from(`${writeKey}:`).toString("base64")}`
      // The write key and whatever the endpoint holds (a userinfo password), in every form.
      const secrets = answerSecretForms(Secrets.collect(config).secrets.flatMap((found) => asBasic(found.value)))
      const said = (answer: Answer): string => answerExcerpt(answer.text, secrets)
      const maxEventBytes = Math.min(SEGMENT_LIMITS.maxBytesPerEvent, config.maxBytesPerRequest - ENVELOPE_BYTES)
      /**
       * Users already identified in this run, by environment then user key: looked up for every event, and
       * two lookups of the event's own strings cost half of one of a key concatenated per event.
       */
      const identified = new Map<string, Set<string>>()
      /** True the first time this userId of the event's environment is met in this run. */
      const firstOfUser = (event: ExportEvent, userId: string): boolean => {
        let users = identified.get(event.envId)
        if (users === undefined) identified.set(event.envId, (users = new Set()))
        if (users.has(userId)) return false
        users.add(userId)
        return true
      }
      /** Batches with a failed request: which of their requests were acknowledged, so a retry sends only the rest. */
      const planned = batchPlans<Plan>()
      /**
       * Set once the endpoint refused even an empty batch: the pipeline stops on it, and every write still
       * running fails with it instead of sending more.
       */
      let refusedAll: SinkError | undefined
      /**
       * Taken to ask the endpoint whether it refuses everything: batches refused at the same time wait for
       * the first one's verdict instead of each splitting and asking.
       */
      const verdict = Effect.unsafeMakeSemaphore(1)
      let warnedTooLarge = false

      const serialize = (message: SegmentMessage): { json: string; bytes: number } => {
        const json = JSON.stringify(message)
        return { json, bytes: Buffer.byteLength(json) }
      }

      /** The user's identify, cut to fit when its traits are too large, or a note saying why it is not sent. */
      const identifyOf = (event: ExportEvent, fields: TrackFields | undefined, notes: Array<string>): Message | undefined => {
        const identify = renderIdentify(event, fields)
        if (identify === undefined) return undefined
        const userId = identify.userId!
        const whole = serialize(identify)
        if (whole.bytes <= maxEventBytes) return { ...whole, event, identifies: userId }
        const name = event.user.name
        const cut = serialize({ ...identify, traits: { name: `${cutText(name, IDENTIFY_NAME_CUT)}…` } })
        if (cut.bytes <= maxEventBytes && name.length > IDENTIFY_NAME_CUT) {
          notes.push(
            `the identify of ${userLabel(userId, event)} is ${whole.bytes} bytes, over Segment's ${maxEventBytes} bytes per event: sent with traits.name cut from ${name.length} to ${IDENTIFY_NAME_CUT} characters`
          )
          return { ...cut, event, identifies: userId }
        }
        notes.push(
          `the identify of ${userLabel(userId, event)} is ${whole.bytes} bytes, over Segment's ${maxEventBytes} bytes per event even with traits.name cut: not sent (its events are)`
        )
        return undefined
      }

      const makePlan = ({ events, fields }: SinkBatch): Plan => {
        const rejected: Array<RejectedEvent> = []
        const notes: Array<string> = []
        const requests: Array<Request> = []
        // Each request is joined as soon as it is full, so only one request's message strings are alive
        // at a time: fewer survivors for the young-generation collections that dominate this sink's GC.
        const messages = requestPacker<Message>(config.maxEventsPerRequest, config.maxBytesPerRequest, ENVELOPE_BYTES, (group) => void requests.push(toRequest(group)))
        for (const event of events) {
          // Mapped values are serialized into the message like the sink's own, so the limits below count them.
          const mapped = trackFields(fields?.(event))
          const { json, bytes } = serialize(renderTrack(config, event, mapped))
          if (bytes > maxEventBytes) {
            rejected.push({
              event,
              reason: `its Segment message is ${bytes} bytes${mapped === undefined ? "" : ` (with its ${mappedNames(mapped)} from sink.map)`}, over the limit of ${maxEventBytes} bytes per event (Segment accepts at most 32 KB per event)`
            })
            continue
          }
          if (config.identify && event.user.keyId !== "") {
            const userId = trackUserId(event, mapped)
            if (userId !== "" && firstOfUser(event, userId)) {
              const identify = identifyOf(event, mapped, notes)
              if (identify !== undefined) messages.add(identify)
            }
          }
          messages.add({ json, bytes, event, identifies: undefined })
        }
        messages.end()
        return { requests, rejected, notes }
      }

      const to = { plugin: PLUGIN, target, url, timeout: config.requestTimeout, forms: secrets }
      const post = (body: string): Effect.Effect<Answer, SinkError> =>
        postForAnswer(to, () => ({ headers: { authorization, "content-type": "application/json" }, body }))

      const postPart = (part: Part): Effect.Effect<Answer, SinkError> =>
        Effect.suspend(() => (refusedAll === undefined ? post(bodyOf(part)) : Effect.fail(refusedAll)))

      /** The error of an answer that is neither a success nor a refusal of the content (400, 413). */
      const failureOf = (answer: Answer): SinkError => {
        const { status } = answer
        const quoted = said(answer)
        const colonQuoted = quoted === "" ? "" : `: ${quoted}`
        if (status === 401 || status === 403) {
          return SinkError.fatal(
            PLUGIN,
            `Segment refused the write key (HTTP ${status} from ${url}${colonQuoted}): check sink.writeKey, it must be the write key of a Segment source of this workspace and region (or of a RudderStack source of this data plane)`
          )
        }
        if (sourceDisabled(answer)) {
          return SinkError.fatal(PLUGIN, `${url} answered HTTP 404 (${quoted}): the source of this write key is disabled; enable it, or check sink.writeKey`)
        }
        if (status === 404) return SinkError.fatal(PLUGIN, `${url} does not exist (HTTP 404${colonQuoted}): check sink.endpoint`)
        if (status === 429) {
          return SinkError.transient(PLUGIN, `the endpoint is rate limiting (HTTP 429 from ${url})`, { retryAfter: parseRetryAfter(answer.retryAfter) })
        }
        if (status === 408 || status >= 500) {
          return SinkError.transient(PLUGIN, `the endpoint answered HTTP ${status} from ${url}${colonQuoted}`, {
            retryAfter: parseRetryAfter(answer.retryAfter)
          })
        }
        return SinkError.fatal(PLUGIN, `the endpoint answered HTTP ${status} from ${url}${colonQuoted}`)
      }

      /** The endpoint refused an empty batch (after refusing `refusal`, a request of events, when given). */
      const refusedEverything = (empty: Answer, refusal?: Answer): SinkError => {
        const quoted = said(empty)
        const what =
          refusal === undefined
            ? `answers HTTP ${empty.status} to an empty batch`
            : empty.status === refusal.status
              ? `answers HTTP ${refusal.status} to whole requests and to an empty batch too`
              : `answers HTTP ${refusal.status} to whole requests and HTTP ${empty.status} to an empty batch`
        return SinkError.fatal(
          PLUGIN,
          `${url} ${what}${quoted === "" ? "" : ` (${quoted})`}, so the refusal is the endpoint's, not the events': check sink.endpoint, any proxy in front of it, and that the Segment source is enabled`
        )
      }

      /**
       * Whether the endpoint takes requests at all, asked with an empty batch (no event can be at fault in
       * it). Refused: the endpoint refuses everything, and the sink stops instead of dead-lettering
       * every event. Taken (or refused only for being empty, as RudderStack does: `refusedAsEmpty`): the
       * refused messages are at fault. The caller holds `verdict`.
       */
      const askEmpty = (refusal: Answer, evidence: { accepts: boolean }): Effect.Effect<void, SinkError> =>
        Effect.gen(function* () {
          if (refusedAll !== undefined) return yield* Effect.fail(refusedAll)
          if (evidence.accepts) return
          const answer = yield* post(envelope(""))
          if (isOk(answer) || refusedAsEmpty(answer)) {
            evidence.accepts = true
            return
          }
          if (!isRefusal(answer)) return yield* Effect.fail(failureOf(answer))
          refusedAll = refusedEverything(answer, refusal)
          return yield* Effect.fail(refusedAll)
        })

      const refusedAlone = (part: Part, refusal: Answer): Effect.Effect<ReadonlyArray<RejectedEvent>> => {
        const message = part.request.messages[part.from]!
        const quoted = said(refusal)
        const reason = `Segment refused the event: HTTP ${refusal.status}${quoted === "" ? "" : ` ${quoted}`}`
        if (message.identifies === undefined) return Effect.succeed([{ event: message.event, reason }])
        // Its event's track is delivered (or dead-lettered on its own): a dead letter for the identify
        // would count a delivered event as not exported.
        return Effect.logWarning(
          `sink ${PLUGIN}: ${reason.replace("the event", `the identify of ${userLabel(message.identifies, message.event)}`)}; its events are sent without it`
        ).pipe(
          Effect.as([])
        )
      }

      const noteTooLarge = (parent: Part, answers: ReadonlyArray<Answer>, refusal: Answer): Effect.Effect<void> => {
        if (warnedTooLarge || refusal.status !== 413 || !answers.some(isOk)) return Effect.void
        warnedTooLarge = true
        return Effect.logWarning(
          `sink ${PLUGIN}: ${url} refused a request of ${Buffer.byteLength(bodyOf(parent))} bytes with HTTP 413 and took its halves: lower sink.maxBytesPerRequest (now ${config.maxBytesPerRequest}) to what the endpoint, or a proxy in front of it, accepts`
        )
      }

      /** Sends the halves of a refused part; the halves refused in turn, with their answers. */
      const sendHalves = (
        part: Part,
        refusal: Answer,
        evidence: { accepts: boolean }
      ): Effect.Effect<ReadonlyArray<readonly [Part, Answer]>, SinkError> =>
        Effect.gen(function* () {
          const parts = halves(part)
          const answers = yield* Effect.forEach(parts, postPart, { concurrency: 2 })
          const failure = answers.find((answer) => !isOk(answer) && !isRefusal(answer))
          if (failure !== undefined) return yield* Effect.fail(failureOf(failure))
          if (answers.some(isOk)) evidence.accepts = true
          yield* noteTooLarge(part, answers, refusal)
          return parts.flatMap((half, i) => (isOk(answers[i]!) ? [] : [[half, answers[i]!] as const]))
        })

      /**
       * Finds what Segment refuses in a refused part by halving it, down to single messages, which are
       * refused for good. A message is refused for good only once the endpoint took something in this
       * request (a part, or an empty batch): until then the refusal may be the endpoint's.
       */
      const isolate = (part: Part, refusal: Answer, evidence: { accepts: boolean }): Effect.Effect<ReadonlyArray<RejectedEvent>, SinkError> =>
        Effect.gen(function* () {
          if (size(part) === 1) {
            if (!evidence.accepts) yield* verdict.withPermits(1)(askEmpty(refusal, evidence))
            return yield* refusedAlone(part, refusal)
          }
          const refused = yield* sendHalves(part, refusal, evidence)
          const rejected = yield* Effect.forEach(refused, ([half, answer]) => isolate(half, answer, evidence), { concurrency: 2 })
          return rejected.flat()
        })

      /**
       * The first split of a refused request, one request at a time: when both halves are refused as
       * the whole was, the endpoint is asked with an empty batch before anything else is sent, so an
       * endpoint that refuses everything costs a handful of requests, not one per event.
       */
      const firstSplit = (part: Part, refusal: Answer, evidence: { accepts: boolean }) =>
        verdict.withPermits(1)(
          Effect.gen(function* () {
            if (refusedAll !== undefined) return yield* Effect.fail(refusedAll)
            if (size(part) === 1) {
              yield* askEmpty(refusal, evidence)
              return [[part, refusal] as const]
            }
            const refused = yield* sendHalves(part, refusal, evidence)
            if (refused.length === 2 && refused.every(([, answer]) => answer.status === refusal.status)) yield* askEmpty(refusal, evidence)
            return refused
          })
        )

      /** Sends one request of a batch; the events Segment refused for good. */
      const send = (request: Request): Effect.Effect<ReadonlyArray<RejectedEvent>, SinkError> =>
        Effect.gen(function* () {
          const whole: Part = { request, from: 0, to: request.messages.length }
          const answer = yield* postPart(whole)
          if (isOk(answer)) return []
          if (!isRefusal(answer)) return yield* Effect.fail(failureOf(answer))
          const evidence = { accepts: false }
          const refused = yield* firstSplit(whole, answer, evidence)
          const rejected = yield* Effect.forEach(refused, ([part, refusal]) => isolate(part, refusal, evidence), { concurrency: 2 })
          return rejected.flat()
        })

      const write: Sink["write"] = (batch) =>
        Effect.gen(function* () {
          if (batch.events.length === 0) return accepted
          if (refusedAll !== undefined) return yield* Effect.fail(refusedAll)
          // The plan's notes (events cut to fit) are logged once, when the batch is first planned.
          const plannedWithNotes = Effect.tap(Effect.sync(() => makePlan(batch)), (plan) =>
            Effect.forEach(plan.notes, (note) => Effect.logWarning(`sink ${PLUGIN}: ${note}`), { discard: true })
          )
          return yield* planned(batch, plannedWithNotes, (plan) =>
            Effect.map(sendPending(PLUGIN, plan.requests, send, config.concurrency), (sent) => {
              const rejected = [...plan.rejected, ...sent]
              return rejected.length === 0 ? accepted : { rejected }
            })
          )
        })

      const check = Effect.gen(function* () {
        const answer = yield* post(envelope(""))
        if (isOk(answer)) return [`${url} accepted an empty batch with the configured write key (HTTP ${answer.status})`]
        if (refusedAsEmpty(answer)) {
          return [
            `${url} took the configured write key and refused the empty batch only for being empty (HTTP 400: ${said(answer)}), as RudderStack's gateway does: it reads batches`
          ]
        }
        if (isRefusal(answer)) return yield* Effect.fail(refusedEverything(answer))
        if (answer.status === 401 || answer.status === 403) {
          return yield* Effect.fail(SinkError.fatal(PLUGIN, `Segment refused the write key (HTTP ${answer.status} from ${url}): check sink.writeKey`))
        }
        return yield* Effect.fail(failureOf(answer))
      })

      const sink: Sink = { write, check }
      return sink
    })
})
