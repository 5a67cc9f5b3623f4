// Far ends that misbehave by quoting the credentials they were sent, for the secret tests: each speaks
// its real protocol to the real client library the plugin uses.
import * as net from "node:net"
import type { AddressInfo } from "node:net"

/** Every form of a secret a far end may quote, as the secret tests look for them. */
export const encodings = (secret: string, user?: string): Record<string, string> => {
  const base64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
  const forms: Record<string, string> = {
    plain: secret,
    base64: base64(secret),
    "base64 of secret:": base64(`${secret}:`),
    "base64 of :secret": base64(`:${secret}`),
    "url-safe base64": Buffer.from(secret, "utf8").toString("base64url"),
    "url-safe base64 of secret:": Buffer.from(`${secret}:`, "utf8").toString("base64url"),
    encodeURIComponent: encodeURIComponent(secret),
    "JSON-escaped": JSON.stringify(secret).slice(1, -1),
    // What a JSON log record makes of a JSON-escaped quote.
    "JSON-escaped twice": JSON.stringify(JSON.stringify(secret).slice(1, -1)).slice(1, -1)
  }
  if (user !== undefined) {
    forms["base64 of user:secret"] = base64(`${user}:${secret}`)
    forms["url-safe base64 of user:secret"] = Buffer.from(`${user}:${secret}`, "utf8").toString("base64url")
  }
  return forms
}

/** One line that quotes `secret` in every form of `encodings`: what an attacker's far end answers. */
export const quoteEveryForm = (secret: string, user?: string): string =>
  Object.entries(encodings(secret, user))
    .map(([name, form]) => `${name}: ${form}`)
    .join("; ")

export interface PostgresEcho {
  readonly port: number
  /** The passwords clients sent, in order. */
  readonly passwords: Array<string>
  readonly close: () => Promise<void>
}

const message = (type: string, body: Buffer): Buffer => {
  const header = Buffer.alloc(5)
  header.write(type, 0, "latin1")
  header.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}

const cstring = (text: string): Buffer => Buffer.concat([Buffer.from(text, "utf8"), Buffer.from([0])])

/**
 * A PostgreSQL server (protocol 3.0) that asks every client for its password in clear text
 * (AuthenticationCleartextPassword, as `password` in pg_hba.conf does), then refuses it with SQLSTATE 28P01
 * and a message that quotes the password in every form: a server no one should trust, for the test that
 * nothing of it reaches the runner's output. SSL and GSS requests are declined, as a server without them does.
 */
export const startPostgresEcho = async (): Promise<PostgresEcho> => {
  const passwords: Array<string> = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => undefined)
    let buffered = Buffer.alloc(0)
    let started = false
    let user = ""
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      for (;;) {
        if (!started) {
          if (buffered.length < 8) return
          const length = buffered.readInt32BE(0)
          if (buffered.length < length) return
          const code = buffered.readInt32BE(4)
          const body = buffered.subarray(8, length)
          buffered = buffered.subarray(length)
          // SSLRequest, GSSENCRequest: "N", go on in plain text.
          if (code === 80877103 || code === 80877104) {
            socket.write("N")
            continue
          }
          const fields = body.toString("utf8").split("\u0000")
          for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === "user") user = fields[i + 1]!
          started = true
          const ask = Buffer.alloc(4)
          ask.writeInt32BE(3) // AuthenticationCleartextPassword
          socket.write(message("R", ask))
          continue
        }
        if (buffered.length < 5) return
        const length = buffered.readInt32BE(1)
        if (buffered.length < length + 1) return
        const type = String.fromCharCode(buffered[0]!)
        const body = buffered.subarray(5, length + 1)
        buffered = buffered.subarray(length + 1)
        if (type !== "p") continue
        const password = body.subarray(0, body.length - 1).toString("utf8")
        passwords.push(password)
        const error = Buffer.concat([
          Buffer.from("S"),
          cstring("FATAL"),
          Buffer.from("V"),
          cstring("FATAL"),
          Buffer.from("C"),
          cstring("28P01"),
          Buffer.from("M"),
          cstring(`password authentication failed for user "${user}": you sent ${quoteEveryForm(password, user)}`),
          Buffer.from([0])
        ])
        socket.end(message("E", error))
        return
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    passwords,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

export interface HttpEcho {
  readonly url: string
  /** Requests answered so far. */
  readonly requests: () => number
  readonly close: () => Promise<void>
}

/** The credentials a request carries: its Authorization header (decoded when Basic) and every key-like string field of its JSON body. */
const credentialsOf = (authorization: string, body: string): Array<{ secret: string; user?: string }> => {
  const found: Array<{ secret: string; user?: string }> = []
  if (authorization.startsWith("Basic ")) {
    const decoded = Buffer.from(authorization.slice(6), "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    found.push({ secret: decoded.slice(colon + 1), user: decoded.slice(0, colon) }, { secret: decoded.slice(0, colon) })
  } else if (authorization !== "") found.push({ secret: authorization.replace(/^Bearer /, "") })
  try {
    const parsed: unknown = JSON.parse(body)
    if (typeof parsed === "object" && parsed !== null) {
      for (const [key, value] of Object.entries(parsed)) {
        if (typeof value === "string" && /key|token|secret/i.test(key)) found.push({ secret: value })
      }
    }
  } catch {
    // Not JSON (gzip, a form): the body is quoted as it came.
  }
  return found.filter((credential) => credential.secret !== "")
}

/**
 * An HTTP endpoint no one should trust: every request is answered `status` with a text body that quotes its
 * Authorization header, the credentials in it and in the body's key fields (in every form of `encodings`),
 * and the body itself, as a misbehaving proxy or an API's "invalid key: ..." answer does. With `shape`, the
 * quote is put in the destination's own refusal of single events (so that it lands in dead letters).
 */
export const startHttpEcho = async (status: number, shape?: (quote: string, body: unknown) => string): Promise<HttpEcho> => {
  const http = await import("node:http")
  const zlib = await import("node:zlib")
  let requests = 0
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      requests++
      // Gunzipped first, so that a key in a gzipped body (PostHog's, Mixpanel's) is quoted too.
      const raw = Buffer.concat(chunks)
      const body = (req.headers["content-encoding"] === "gzip" ? zlib.gunzipSync(raw) : raw).toString("utf8")
      const authorization = req.headers.authorization ?? ""
      const quotes = credentialsOf(authorization, body).map(({ secret, user }) => quoteEveryForm(secret, user))
      const quote = [`refused; you sent Authorization: ${authorization}`, ...quotes, `body: ${body}`].join("\n")
      if (shape === undefined) {
        res.writeHead(status, { "content-type": "text/plain" })
        return void res.end(quote)
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(body)
      } catch {
        parsed = undefined
      }
      res.writeHead(status, { "content-type": "application/json" })
      res.end(shape(quote, parsed))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
