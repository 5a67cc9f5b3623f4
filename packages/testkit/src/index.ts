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
