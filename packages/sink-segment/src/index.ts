/** The `type: segment` sink plugin. */
export { IDENTIFY_NAME_CUT, SegmentSink, chunk, parseRetryAfter } from "./SegmentSink.js"
/** Its configuration keys and Segment's limits. */
export { EU_ENDPOINT, SEGMENT_LIMITS, SegmentSinkConfig, US_ENDPOINT, resolveEndpoint } from "./SegmentSinkConfig.js"
/** What an event becomes at Segment. */
export { type RenderConfig, type SegmentMessage, identifyMessageId, render, renderIdentify, renderTrack } from "./render.js"
