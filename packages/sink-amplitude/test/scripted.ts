import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

export interface Scripted {
  readonly url: string
  /** The parsed bodies received, in order. */
  readonly bodies: Array<{ events: Array<Record<string, unknown>> }>
}

/** A server answering each POST with `answer(body, n)`: for answers the receiver double does not play. */
export const scripted = (
  answer: (body: { events: Array<Record<string, unknown>> }, n: number) => { status: number; body: unknown; headers?: Record<string, string> }
): Effect.Effect<Scripted, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(
      () =>
        new Promise<Scripted & { server: http.Server }>((resolve) => {
          const bodies: Scripted["bodies"] = []
          const server = http.createServer((req, res) => {
            const chunks: Array<Buffer> = []
            req.on("data", (c: Buffer) => chunks.push(c))
            req.on("end", () => {
              const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { events: Array<Record<string, unknown>> }
              bodies.push(body)
              const out = answer(body, bodies.length - 1)
              res.writeHead(out.status, { "content-type": "application/json", ...out.headers })
              res.end(typeof out.body === "string" ? out.body : JSON.stringify(out.body))
            })
          })
          server.listen(0, "127.0.0.1", () => resolve({ server, bodies, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }))
        })
    ),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
  )
