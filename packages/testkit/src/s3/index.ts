export * from "./S3Double.js"
export { canonicalQuery, canonicalRequest, signingKey, verifySigV4 } from "./SigV4.js"
export type { SigV4Options, SigV4Outcome, SigV4Refused, SigV4Request, SigV4Verified } from "./SigV4.js"
