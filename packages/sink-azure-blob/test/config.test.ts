import { AzureBlobSink } from "@featbit-export/sink-azure-blob"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { ACCOUNT, ACCOUNT_KEY } from "./support.js"

const issues = (config: Record<string, unknown>) => AzureBlobSink.configIssues!(Schema.decodeUnknownSync(AzureBlobSink.config)(config))

describe("configIssues", () => {
  it("asks for accountName when accountKey's accountUrl names no account (a key signs with the account's name)", () => {
    const keyed = { container: "landing", accountKey: ACCOUNT_KEY }
    expect(issues({ ...keyed, accountUrl: "https://storage.example.com" })).toEqual([{ path: ["accountName"], message: expect.stringMatching(/https:\/\/storage\.example\.com .*give accountName/) }])
    expect(issues({ ...keyed, accountUrl: "https://storage.example.com/" })).toEqual([{ path: ["accountName"], message: expect.stringMatching(/give accountName/) }])
    expect(issues({ ...keyed, accountUrl: "https://storage.example.com", accountName: "myaccount" })).toEqual([])
    // The account from the host, or from the path as the emulator has it.
    expect(issues({ ...keyed, accountUrl: "https://myaccount.blob.core.windows.net" })).toEqual([])
    expect(issues({ ...keyed, accountUrl: `http://127.0.0.1:10000/${ACCOUNT}` })).toEqual([])
    // A SAS carries its own signature: no account name needed.
    expect(issues({ container: "landing", accountUrl: "https://storage.example.com", sasToken: "sv=1&sig=2" })).toEqual([])
  })
})
