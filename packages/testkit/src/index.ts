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
/** A writer that inserts FeatBit-shaped rows into a real store at a rate, with late rows, as FeatBit's servers do. */
export * from "./traffic/index.js"
/** Runs a pipeline in follow mode until a condition holds, then stops it gracefully. */
export * from "./runFollowing.js"
/** Forced garbage collections while a test runs, for tests of deadlines. */
export * from "./collectingGarbage.js"
/** Collects what a pipeline logs. */
export * from "./captureLogs.js"
/** A store in memory behind core's StoreReader, with a clock the test sets. */
export * from "./MemoryStore.js"
/** The conformance suite on live and quiet data for database sources. */
export * from "./liveConformance.js"
// What a source's late-row check costs, for benchmarks: `@featbit-export/testkit/measure` (no vitest needed).
/** A ClickHouse HTTP interface in front of an embedded engine (chDB), with fault injection. */
export * from "./clickhouse/index.js"
/** SIGKILL tests: the built runner with one sink in a child process, killed while it exports. */
export * from "./runnerKills.js"
export * from "./killedHttpExport.js"
/** A local S3 REST server (SigV4, multipart, If-None-Match, scripted faults) for object-storage sink tests. */
export * from "./s3/index.js"
/** Local receivers for the product-analytics destinations, each enforcing its documented contract and runnable as its own process. */
export * from "./amplitude/index.js"
export * from "./mixpanel/index.js"
export * from "./posthog/index.js"
/** An evaluation and a metric with every field, for sinks' unit tests. */
export * from "./sampleEvents.js"
