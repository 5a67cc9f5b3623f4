import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { type ExportEvent, type Sink, decodeFeatBitRow } from "@featbit-export/core"
import { type MixpanelReceiver, type MixpanelReceiverOptions, mixpanelBodies, mixpanelReceiver } from "@featbit-export/testkit"
import { generateRows } from "@featbit-export/source-generate"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { MixpanelSink, MixpanelSinkConfig } from "../src/index.js"

export const SA_USER = "featbit-export.sa.mp-service-account"
export const SA_SECRET = "sa_5ecret_Zm9vYmFyYmF6"
export const PROJECT_TOKEN = "tok_5ecret_project_0123"
export const PROJECT_ID = "4242"

export const sampleEvents = (count: number, seed: number): Array<ExportEvent> =>
  [...generateRows({ count, seed })].flatMap((row) => Either.match(decodeFeatBitRow(row), { onLeft: () => [], onRight: (e) => [e] }))

/** A config with the service account, unless `input` names other credentials. */
export const decodeConfig = (input: Record<string, unknown>): MixpanelSinkConfig =>
  Schema.decodeUnknownSync(MixpanelSinkConfig)(
    "projectSecret" in input || "serviceAccount" in input
      ? input
      : { serviceAccount: { username: SA_USER, secret: SA_SECRET }, projectId: PROJECT_ID, ...input }
  )

export const receiverOptions = (options: Partial<MixpanelReceiverOptions> = {}): MixpanelReceiverOptions => ({
  projectId: PROJECT_ID,
  token: PROJECT_TOKEN,
  serviceAccounts: [{ username: SA_USER, secret: SA_SECRET }],
  ...options
})

export const makeSink = (config: MixpanelSinkConfig): Effect.Effect<Sink> =>
  MixpanelSink.make(config, { pipeline: "test", baseDir: "." }) as Effect.Effect<Sink>

/** A receiver and a sink pointed at it. */
export const setup = (
  sinkOptions: Record<string, unknown> = {},
  options: Partial<MixpanelReceiverOptions> = {}
): Effect.Effect<{ receiver: MixpanelReceiver; sink: Sink }, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const receiver = yield* mixpanelReceiver(receiverOptions(options))
    const sink = yield* makeSink(decodeConfig({ endpoint: receiver.url, requestTimeout: "10s", ...sinkOptions }))
    return { receiver, sink }
  })

/** The FeatBit ids of the events the receiver stored, and of the duplicates it imported again. */
export const featbitIds = (receiver: MixpanelReceiver): Array<string> =>
  [...receiver.events, ...receiver.duplicates].map((event) => event.properties["featbitId"] as string)

/**
 * A proxy in front of the receiver that can refuse the credentials: after `refuseAuth()` it answers 401 with
 * Mixpanel's body, and with `echo` it quotes the request's Authorization header back (decoded too), as a
 * misbehaving proxy might, so that the sink's scrubbing is what keeps the secret out of its messages.
 */
export const authProxy = (
  receiver: MixpanelReceiver
): Effect.Effect<{ url: string; refuseAuth: (options?: { echo?: boolean }) => void; refused: () => number }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      let refusing: { echo: boolean } | undefined
      let refused = 0
      const target = new URL(receiver.url)
      const server = http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (chunk: Buffer) => chunks.push(chunk))
        req.on("end", () => {
          if (refusing !== undefined) {
            refused++
            const header = req.headers.authorization ?? ""
            const decoded = Buffer.from(header.replace(/^basic /i, ""), "base64").toString("utf8")
            const body = refusing.echo ? { ...mixpanelBodies.unauthorized, error: `Invalid credentials: ${header} (${decoded}) ${encodeURIComponent(decoded)}` } : mixpanelBodies.unauthorized
            res.writeHead(401, { "content-type": "application/json" })
            return res.end(JSON.stringify(body))
          }
          const forward = http.request(
            { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
            (answer) => {
              res.writeHead(answer.statusCode ?? 502, answer.headers)
              answer.pipe(res)
            }
          )
          forward.on("error", () => res.destroy())
          forward.end(Buffer.concat(chunks))
        })
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const { port } = server.address() as AddressInfo
      return {
        server,
        url: `http://127.0.0.1:${port}`,
        refuseAuth: (options?: { echo?: boolean }) => void (refusing = { echo: options?.echo ?? false }),
        refused: () => refused
      }
    }),
    ({ server }) =>
      Effect.promise(
        () =>
          new Promise<void>((resolve) => {
            server.closeAllConnections()
            server.close(() => resolve())
          })
      )
  ).pipe(Effect.map(({ url, refuseAuth, refused }) => ({ url, refuseAuth, refused })))

export const run = <A>(effect: Effect.Effect<A, unknown, Scope.Scope>): Promise<A> => Effect.runPromise(Effect.scoped(effect))

export { flagEvent, metricEvent } from "@featbit-export/testkit"
