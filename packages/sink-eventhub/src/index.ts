/** The `type: eventhub` sink plugin, its target resolution and error mapping. */
export { EventHubSink, type EventHubTarget, classify, resolveTarget } from "./EventHubSink.js"
/** Its configuration keys. */
export { EventHubSinkConfig } from "./EventHubSinkConfig.js"
/** What an event becomes at Event Hubs. */
export { type EventHubMessage, type RenderConfig, SCHEMA_VERSION, partitionKeyOf, render } from "./render.js"
