import type * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

export interface Listening {
  readonly port: number
  readonly host: string
  /** `http://host:port`, the host as given. */
  readonly url: string
  /** Closes the server and every connection still open, hanging ones included, so that stop never waits on a sender. */
  readonly stop: () => Promise<void>
}

/**
 * Starts `server` on `port` (0 or none: any free port) and `host` (default 127.0.0.1). Idle connections are
 * kept 30 s, so a sender's pooled connections survive the pauses between its requests.
 */
export const listen = async (server: http.Server, options: { readonly port?: number | undefined; readonly host?: string | undefined }): Promise<Listening> => {
  const host = options.host ?? "127.0.0.1"
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    host,
    url: `http://${host}:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

/** A started receiver as a scoped resource: stopped when the scope closes. */
export const scopedReceiver = <R extends { readonly stop: () => Promise<void> }>(start: () => Promise<R>): Effect.Effect<R, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.promise(start), (receiver) => Effect.promise(() => receiver.stop()))
