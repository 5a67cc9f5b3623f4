import type * as http from "node:http"

/** Writes a whole answer: the status, `Content-Type` (then any other headers) and the body. */
export const writeAnswer = (res: http.ServerResponse, status: number, body: string, contentType: string, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { "content-type": contentType, ...headers })
  res.end(body)
}

/** A JSON answer, not counted: what `GET /stats` uses where reading the counters must not change them. */
export const writeJson = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void =>
  writeAnswer(res, status, JSON.stringify(body), "application/json", headers)

/** Answers that are tallied by status, for a receiver's `stats().statuses`. */
export interface CountedReplies {
  /** Tallies a status the receiver writes itself (an answer without a body, a partial one). */
  readonly count: (status: number) => void
  readonly send: (res: http.ServerResponse, status: number, body: string, contentType: string, headers?: Record<string, string>) => void
  readonly sendJson: (res: http.ServerResponse, status: number, body: unknown, headers?: Record<string, string>) => void
  /** A copy of the tally, status -> answers. */
  readonly statuses: () => Record<string, number>
}

export const countedReplies = (): CountedReplies => {
  const statuses: Record<string, number> = {}
  const count = (status: number) => void (statuses[status] = (statuses[status] ?? 0) + 1)
  return {
    count,
    send: (res, status, body, contentType, headers = {}) => {
      count(status)
      writeAnswer(res, status, body, contentType, headers)
    },
    sendJson: (res, status, body, headers = {}) => {
      count(status)
      writeJson(res, status, body, headers)
    },
    statuses: () => ({ ...statuses })
  }
}
