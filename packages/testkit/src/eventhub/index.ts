export * from "./EventHubPeer.js"
