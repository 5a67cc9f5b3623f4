export * from "./HttpFront.js"
