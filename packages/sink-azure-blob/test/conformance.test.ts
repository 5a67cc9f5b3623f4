import { sinkConformance } from "@featbit-export/testkit"
import * as Effect from "effect/Effect"
import { gunzipSync } from "node:zlib"
import { afterAll, beforeAll } from "vitest"
import { type Azurite, connectionStringFor, freshContainer, objectsIn, openSink, startAzurite, startFaultProxy } from "./support.js"

let azurite: Azurite
let proxy: Awaited<ReturnType<typeof startFaultProxy>>
beforeAll(async () => {
  azurite = await startAzurite()
  proxy = await startFaultProxy(azurite.url)
})
afterAll(async () => {
  await proxy.close()
  await azurite.stop()
})

// Against Azurite through a proxy: the transient fault is 503 ServerBusy on the first n tries of every upload (the proxy
// answers in Azurite's place), the fatal one the container deleted under the sink (404 ContainerNotFound).
// No event is refused on its own by object storage: no poison case.
sinkConformance("azure-blob", {
  supports: ["transient", "fatal"],
  make: () =>
    Effect.gen(function* () {
      const container = yield* Effect.promise(() => freshContainer(azurite))
      const sink = yield* openSink({ connectionString: connectionStringFor(proxy.url), container, format: "ndjson" })
      return {
        sink,
        delivered: () =>
          Effect.promise(async () =>
            [...(await objectsIn(azurite, container)).values()].flatMap((body) =>
              gunzipSync(body).toString("utf8").trimEnd().split("\n").map((line) => (JSON.parse(line) as { id: string }).id)
            )
          ),
        injectTransient: (times: number) => Effect.sync(() => proxy.fault({ method: "PUT", count: times, perUrl: true, answer: { status: 503, code: "ServerBusy" } })),
        injectFatal: () => Effect.promise(() => azurite.service.getContainerClient(container).delete()).pipe(Effect.asVoid)
      }
    })
})
