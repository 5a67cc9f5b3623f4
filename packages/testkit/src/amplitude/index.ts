/** A local Amplitude HTTP V2 (`/2/httpapi`) and Batch (`/batch`) receiver that enforces the documented contract and plays faults. */
export {
  AMPLITUDE_BATCH_MAX_BYTES,
  AMPLITUDE_DEDUPE_WINDOW_MS,
  AMPLITUDE_DEFAULT_MIN_ID_LENGTH,
  AMPLITUDE_HTTPAPI_MAX_BYTES,
  AMPLITUDE_INVALID_IDS,
  AMPLITUDE_MAX_EVENTS_PER_REQUEST,
  amplitudeReceiver,
  startAmplitudeReceiver
} from "./AmplitudeReceiver.js"
export type {
  AmplitudeFault,
  AmplitudeReceiver,
  AmplitudeReceiverOptions,
  AmplitudeReceiverStats,
  AmplitudeRequestRecord,
  AmplitudeRoute
} from "./AmplitudeReceiver.js"
