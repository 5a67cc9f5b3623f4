/** The `type: amplitude` sink plugin. */
export { AmplitudeSink, refusedIndexes } from "./AmplitudeSink.js"
/** Its configuration keys and Amplitude's limits. */
export {
  AMPLITUDE_LIMITS,
  type AmplitudeApi,
  AmplitudeSinkConfig,
  DEFAULT_FLAG_EVENT_TYPE,
  EU_BASE,
  ROUTES,
  US_BASE,
  maxBytesOf,
  resolveBase,
  resolveUrl
} from "./AmplitudeSinkConfig.js"
export { configIssues } from "./Endpoint.js"
/** What an event becomes at Amplitude. */
export { type AmplitudeEvent, type RenderConfig, render, renderEvent, timeOf, userIdOf, variantOf } from "./render.js"
/** The parts of an event a pipeline file may compute (`sink.map`). */
export { AMPLITUDE_MAPPABLE, type AmplitudeFields, amplitudeFields } from "./mapped.js"
