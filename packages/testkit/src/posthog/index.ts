/** A local PostHog capture double (`/batch/` and the single-event routes) that enforces the capture contract and plays faults. */
export {
  parsePostHogTimestamp,
  parseUuid,
  POSTHOG_BATCH_BODY_BYTES,
  POSTHOG_EVENT_BODY_BYTES,
  POSTHOG_MAX_DISTINCT_ID_CHARS,
  postHogReceiver,
  startPostHogReceiver
} from "./PostHogReceiver.js"
export type {
  PostHogFault,
  PostHogReceiver,
  PostHogReceiverOptions,
  PostHogReceiverStats,
  PostHogRequestRecord,
  PostHogRow
} from "./PostHogReceiver.js"
