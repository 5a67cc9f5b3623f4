/** An in-memory source with fault injection. */
export * from "./MemorySource.js"
/** A sink that records what it acknowledged, with scripted failures. */
export * from "./RecordingSink.js"
/** Running a pipeline in a test, with inspectable stores. */
export * from "./runPipeline.js"
/** The conformance suite for sources. */
export * from "./sourceConformance.js"
/** The conformance suite for sinks. */
export * from "./sinkConformance.js"
/** A local Segment /v1/batch receiver that enforces the documented limits and plays faults. */
export * from "./SegmentReceiver.js"
/** A MongoDB wire-protocol server for tests, and FeatBit's Events documents. */
export * from "./mongo/index.js"
export * from "./eventhub/index.js"
