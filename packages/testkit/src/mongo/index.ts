export * from "./MongoWireServer.js"
export * from "./documents.js"
