/** Microsecond UTC instants in one sortable text form. */
export * as Timestamp from "./Timestamp.js"
/** The canonical FeatBit events every sink receives. */
export * from "./Event.js"
/** Decoding FeatBit's stored rows and documents into canonical events. */
export * from "./FeatBitRow.js"
/** Keyset positions `(timestamp, id)`. */
export * as Cursor from "./Cursor.js"
/** Typed failures. */
export * from "./Errors.js"
/** Secrets of a pipeline file, scrubbed in every encoding from what is written. */
export * as Secrets from "./Secrets.js"
/** The Source contract. */
export * from "./Source.js"
/** The filters every database source shares (envIds, events, window, lag, lateWindow, batchSize). */
export * from "./SourceFilters.js"
/** What a source selects, as its checkpoint remembers it. */
export * from "./Selection.js"
/** The read horizon of a pass: the store's clock minus lag. */
export * from "./Horizon.js"
/** Late rows: counts per time bucket behind the cursor. */
export * as LateRows from "./LateRows.js"
/** What a database source says about its store. */
export * from "./StoreReader.js"
/** One pass of a database source: horizon, late rows, audits, then the rows after the cursor. */
export * from "./ReadPass.js"
/** The Sink contract. */
export * from "./Sink.js"
/** Enrichment: flag names and variation values from FeatBit's flags, before the transform step. */
export * from "./Enrich.js"

/** Shared state in PostgreSQL, and how runners sharing it divide the pipelines. */
export * from "./SharedState.js"
/** The transform step: filter, set, drop and a sink's mapped fields, as compiled expressions. */
export * from "./Transform.js"
/** The plugin contract and its version. */
export * from "./Plugin.js"
/** Retry policy: exponential backoff, full jitter, cap, Retry-After. */
export * from "./Retry.js"
/** Durations and counts in pipeline files. */
export * from "./Settings.js"
/** Where pipelines keep their cursors. */
export * as CheckpointStore from "./CheckpointStore.js"
/** Where records that cannot be exported go. */
export * as DeadLetter from "./DeadLetter.js"
/** `${VAR}` interpolation. */
export * from "./Interpolate.js"
/** Live counters of a running pipeline. */
export * from "./Progress.js"
/** Where the runner's HTTP endpoint listens (`server: { listen }`, `--listen`). */
export { type ListenAddress, ListenSetting, parseListen } from "./Listen.js"
/** The pipeline engine. */
export * as Pipeline from "./Pipeline.js"
/** Pipeline files: YAML, schema, locations of errors, JSON Schema. */
export * as PipelineFile from "./PipelineFile.js"
/** The flat, typed row table sinks write (PostgreSQL, ClickHouse, Parquet), and `columns:` renames. */
export * from "./EventColumns.js"
/** Runs of items bounded by bytes, for sinks whose requests have a size limit. */
export * from "./Chunks.js"
/** Requests of items bounded by count and bytes, for sinks that join serialized items into one body. */
export * from "./RequestChunks.js"
export * from "./SerializedEvents.js"
/** A batch's requests sent concurrently, the acknowledged ones remembered across the engine's retries. */
export * from "./PlannedRequests.js"
/** HTTP sinks: the wait a `Retry-After` header asks for. */
export * from "./http/RetryAfter.js"
/** HTTP sinks: an answer's body quoted as one short line, secrets scrubbed in every form. */
export * from "./http/AnswerExcerpt.js"
/** HTTP sinks: a POST with a deadline whose whole answer is read, failures told without secrets. */
export * from "./http/PostAnswer.js"
/** Table sinks: the rows a destination refuses, set aside for the dead-letter file while the rest is written. */
export * from "./RefusedRows.js"
export * from "./Once.js"
