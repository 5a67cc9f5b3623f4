// Moved to the test kit (shared with sink-clickhouse's tests); re-exported here for the tests that import this path.
export { type Fault, type FrontRequest, type HttpFront, closedPort, startHttpFront } from "@featbit-export/testkit"
