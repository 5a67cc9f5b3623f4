import type * as http from "node:http"
import * as zlib from "node:zlib"

/**
 * Reads a request body to its end and hands over the bytes kept and the count received. Past `limit` the rest
 * is read and dropped rather than refused mid-stream, so the sender gets the receiver's answer (a 413) rather
 * than a broken pipe. A request that errors (the sender went away) never reaches `onEnd`: nothing to answer.
 */
export const readBody = (req: http.IncomingMessage, onEnd: (body: Buffer, received: number) => void, limit = Number.POSITIVE_INFINITY): void => {
  const chunks: Array<Buffer> = []
  let received = 0
  req.on("data", (chunk: Buffer) => {
    received += chunk.length
    if (received <= limit) chunks.push(chunk)
  })
  req.on("error", () => undefined)
  req.on("end", () => onEnd(Buffer.concat(chunks), received))
}

/** The media type of `Content-Type`, lower-case, without its parameters (`""` when there is none). */
export const mediaType = (req: http.IncomingMessage): string => (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()

export type Gunzipped =
  | { readonly ok: true; readonly body: Buffer }
  /** `tooLarge`: the output would pass `limit`; otherwise the data is not gzip. `error` for finer readings. */
  | { readonly ok: false; readonly tooLarge: boolean; readonly error: unknown }

/**
 * Gunzips a body, stopping at `limit` output bytes (none: no limit) so that a small gzip bomb cannot make the
 * receiver allocate the lot. Each receiver maps the two failures to its destination's answers.
 */
export const gunzipWithin = (raw: Buffer, limit?: number): Gunzipped => {
  try {
    return { ok: true, body: limit === undefined ? zlib.gunzipSync(raw) : zlib.gunzipSync(raw, { maxOutputLength: limit }) }
  } catch (error) {
    return { ok: false, tooLarge: (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE", error }
  }
}
