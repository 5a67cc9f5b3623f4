import { afterAll, describe, it } from "vitest"
import { killedExport } from "../../object-storage/test/killedExport.js"
import { type Azurite, freshContainer, objectsIn, startAzurite } from "./support.js"

let azurite: Azurite | undefined
afterAll(() => azurite?.stop())

// Half a minute of CPU: the second run of the suite on the newest LTS (scripts/test-on-lts.mjs, which sets
// FEATBIT_EXPORT_LTS_RUN) skips it: once per CI is enough.
describe.skipIf(process.env["FEATBIT_EXPORT_LTS_RUN"] !== undefined)("a 200,000-event export to Azure Blob Storage killed with SIGKILL three times", () => {
  it("leaves only whole blobs (each holding exactly the events its name was given for) and every event in one", async () => {
    const emulator = (azurite = await startAzurite())
    const container = await freshContainer(emulator)
    await killedExport({
      sinkPackage: "sink-azure-blob",
      sinkExport: "AzureBlobSink",
      sinkKeys: `      type: azure-blob
      container: ${container}
      connectionString: "${emulator.connectionString}"`,
      objects: async () => [...(await objectsIn(emulator, container))]
    })
  }, 180_000)
})
