export * from "./TrafficWriter.js"
export * from "./trafficBatch.js"
export * from "./mongoTrafficStore.js"
