import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ValueIssue, showValue } from "./Settings.js"

/** Where the runner's HTTP endpoint listens. */
export interface ListenAddress {
  readonly host: string
  readonly port: number
}

const FORMS = "write HOST:PORT, e.g. 127.0.0.1:9464 (0.0.0.0:9464 to listen on every interface), or a port alone for loopback"

/**
 * `HOST:PORT`, `[v6]:PORT`, `:PORT` or `PORT`. Without a host it listens on loopback only: metrics and
 * status are for the machine's own scraper unless the person says otherwise.
 */
export const parseListen = (text: string): Either.Either<ListenAddress, string> => {
  const trimmed = text.trim()
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]*)):?(\d+)$/.exec(trimmed.includes(":") ? trimmed : `:${trimmed}`)
  if (match === null) return Either.left(`${showValue(text)} is not an address to listen on: ${FORMS}`)
  const port = Number(match[3])
  if (!Number.isSafeInteger(port) || port > 65535) return Either.left(`${showValue(text)} has no valid port (0 to 65535): ${FORMS}`)
  const host = match[1] ?? (match[2] === undefined || match[2] === "" ? "127.0.0.1" : match[2])
  return Either.right({ host, port })
}

/** The `listen` key of a pipeline file's `server` block. */
export const ListenSetting = Schema.transformOrFail(
  Schema.Unknown.annotations({ jsonSchema: { type: ["string", "integer"] } }),
  Schema.Struct({ host: Schema.String, port: Schema.Number }),
  {
    strict: true,
    decode: (input, _, ast) => {
      const parsed = typeof input === "string" || typeof input === "number" ? parseListen(String(input)) : Either.left(`${showValue(input)} is not an address: ${FORMS}`)
      return Either.isRight(parsed)
        ? ParseResult.succeed(parsed.right)
        : ParseResult.fail(new ValueIssue(ast, input, parsed.left, `the value is not an address to listen on: ${FORMS}`))
    },
    encode: (address) => ParseResult.succeed(`${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`)
  }
).annotations({ description: "HOST:PORT of /metrics, /healthz, /readyz and /status, e.g. 127.0.0.1:9464; a port alone listens on loopback" })
