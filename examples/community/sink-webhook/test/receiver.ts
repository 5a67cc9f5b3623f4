import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { signature } from "../src/index.js"

export interface Receiver {
  readonly url: string
  /** Ids of events in requests that were answered 2xx, in arrival order. */
  readonly delivered: Array<string>
  /** The items of `events` in requests that were answered 2xx, as received (a mapped body may have no id). */
  readonly items: Array<unknown>
  readonly badSignatures: () => number
  readonly idempotencyKeys: Array<string>
  /** Answers the next requests with these statuses instead of accepting them. */
  readonly faults: Array<{ status: number; retryAfter?: string }>
  /** Answers every request with this status from now on. */
  refuseWith: number | undefined
  /** Leaves this many of the next requests unanswered (read, never answered; closed when the receiver stops). */
  hang: number
}

/** A local webhook that checks signatures, in the current scope. */
export const makeReceiver = (secret: string): Effect.Effect<Receiver, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ server: http.Server; receiver: Receiver }>((resume) => {
      let bad = 0
      const receiver: Receiver = {
        url: "",
        delivered: [],
        items: [],
        badSignatures: () => bad,
        idempotencyKeys: [],
        faults: [],
        refuseWith: undefined,
        hang: 0
      }
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8")
          if (req.headers["x-featbit-signature"] !== signature(secret, body)) {
            bad++
            res.writeHead(401).end()
            return
          }
          if (receiver.hang > 0) {
            receiver.hang--
            return
          }
          if (receiver.refuseWith !== undefined) return void res.writeHead(receiver.refuseWith).end()
          const fault = receiver.faults.shift()
          if (fault !== undefined) return void res.writeHead(fault.status, fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter }).end()
          receiver.idempotencyKeys.push(String(req.headers["idempotency-key"]))
          for (const item of (JSON.parse(body) as { events: Array<unknown> }).events) {
            receiver.items.push(item)
            const id = (item as { id?: unknown } | null)?.id
            if (typeof id === "string") receiver.delivered.push(id)
          }
          res.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ server, receiver: Object.assign(receiver, { url: `http://127.0.0.1:${port}/hook` }) }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map(({ receiver }) => receiver))

export const secretOf = (text: string) => Redacted.make(text)
