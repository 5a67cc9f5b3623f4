import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as CheckpointStore from "../src/CheckpointStore.js"
import * as DeadLetter from "../src/DeadLetter.js"
import type { ExportEvent } from "../src/Event.js"
import * as Secrets from "../src/Secrets.js"
import type { Timestamp } from "../src/Timestamp.js"

// Holds the characters that make each encoding differ from the text: a quote and a backslash (JSON), "/",
// "+", "=", "&" and a space (URLs, base64 neighbours), and one outside ASCII.
const SECRET = 'pa"ss\\w/rd+=& é-41'
const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64")
const b64url = (text: string) => Buffer.from(text, "utf8").toString("base64url")

const scrubber = Secrets.make([SECRET])

describe("Secrets.make", () => {
  it("removes the secret as written, JSON-escaped (as JavaScript, PHP, Python and Go escape it, and twice), URL-encoded and base64-encoded", () => {
    const json = JSON.stringify(SECRET).slice(1, -1)
    const forms = {
      plain: SECRET,
      json,
      "json, PHP": json.replace(/\//g, "\\/"),
      "json, Python": json.replace(/é/g, "\\u00e9"),
      "json, Go": json.replace(/&/g, "\\u0026"),
      "json twice": JSON.stringify(json).slice(1, -1),
      encodeURIComponent: encodeURIComponent(SECRET),
      "lowercase hex": encodeURIComponent(SECRET).toLowerCase(),
      "form encoding": new URLSearchParams({ x: SECRET }).toString().slice(2),
      encodeURI: encodeURI(SECRET),
      base64: b64(SECRET),
      "base64 unpadded": b64(SECRET).replace(/=+$/, ""),
      "base64 of secret:": b64(`${SECRET}:`),
      "base64 of :secret": b64(`:${SECRET}`),
      "url-safe base64": b64url(SECRET),
      "url-safe base64 of secret:": b64url(`${SECRET}:`)
    }
    for (const [name, form] of Object.entries(forms)) {
      expect(form.length, name).toBeGreaterThan(8)
      const scrubbed = scrubber.scrub(`before ${form} after`)
      expect(scrubbed, name).toBe("before *** after")
    }
  })

  it("removes the secret's base64 from a longer base64 text, whatever the bytes before it (user:secret), leaving at most 2 characters of it", () => {
    for (const user of ["", "a", "ab", "abc", "default", "reader1", "x".repeat(11)]) {
      for (const after of ["", ":", "; more header"]) {
        const text = `${user}:${SECRET}${after}`
        for (const encode of [b64, b64url]) {
          const encoded = encode(text)
          const scrubbed = scrubber.scrub(`Authorization: Basic ${encoded}`)
          expect(scrubbed, text).toContain("***")
          // The characters left are those of the user, of what follows, and at most 2 of the secret's edges
          // on each side (they also hold bits of the neighbouring bytes).
          const left = scrubbed.length - "Authorization: Basic ".length - 3
          const others = Math.ceil(((user.length + 1) * 4) / 3) + Math.ceil((Buffer.byteLength(after) * 4) / 3) + 4
          expect(left, text).toBeLessThanOrEqual(others + 4)
          expect(scrubbed, text).not.toContain(encode(SECRET).replace(/=+$/, "").slice(2, -2))
        }
      }
    }
  })

  it("replaces the longest form at a place whole, and every occurrence", () => {
    const text = `${b64(`${SECRET}:`)} and ${SECRET} and ${SECRET}`
    expect(scrubber.scrub(text)).toBe("*** and *** and ***")
  })

  it("leaves out secrets shorter than MIN_LENGTH (8), and ones the file shows anyway", () => {
    expect(Secrets.MIN_LENGTH).toBe(8)
    const short = Secrets.make(["2024-01", "events"])
    expect(short).toBe(Secrets.none)
    expect(short.scrub("2024-01-02 events")).toBe("2024-01-02 events")
    const visible = Secrets.make(["postgres-db", "s3cret-pass"], { visible: new Set(["postgres-db"]) })
    expect(visible.scrub("user postgres-db with s3cret-pass")).toBe("user postgres-db with ***")
    // A plugin's own messages may scrub shorter ones (what it knows is a password), with another mask.
    expect(Secrets.make(["abc"], { minLength: 3, mask: "<redacted>" }).scrub("x abc y")).toBe("x <redacted> y")
  })

  it("scrubs every string of a value, object keys included, and keeps everything else", () => {
    const date = new Date(0)
    const value = { reason: `said ${SECRET}`, nested: [{ [SECRET]: 1, n: 2, b: true, z: null }], date }
    const scrubbed = scrubber.scrubValue(value)
    expect(scrubbed).toEqual({ reason: "said ***", nested: [{ "***": 1, n: 2, b: true, z: null }], date })
    expect(scrubbed.date).toBe(date)
    expect(value.reason).toBe(`said ${SECRET}`)
  })
})

describe("Secrets.collect", () => {
  it("finds Redacted values, the credentials of URLs and connection strings, and user:password pairs, with their paths", () => {
    const config = [
      {
        source: { type: "clickhouse", url: "http://ch:8123", username: "reader", password: Redacted.make("ch-password-1") },
        sink: { type: "segment", writeKey: Redacted.make("segment-write-key"), endpoint: "https://proxy:pr%40xy-pass@segment.example/" }
      },
      {
        source: { type: "mongo", url: Redacted.make("mongodb://u:m0ngo-pass@a:27017,b:27017/?authSource=admin") },
        sink: { type: "eventhub", connectionString: Redacted.make("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=eh+key/value=;EntityPath=hub") }
      },
      { source: { type: "webhook", url: "https://hooks.example/in?token=t0ken-in-query&x=1" } }
    ]
    const { secrets, visible } = Secrets.collect(config)
    const found = (value: string) => secrets.filter((s) => s.value === value).map((s) => s.path.join("."))
    expect(found("ch-password-1")).toEqual(["0.source.password"])
    expect(found("reader:ch-password-1")).toEqual(["0.source.password"])
    expect(found("segment-write-key")).toEqual(["0.sink.writeKey"])
    expect(found("pr%40xy-pass")).toEqual(["0.sink.endpoint"])
    expect(found("pr@xy-pass")).toEqual(["0.sink.endpoint"])
    expect(found("proxy:pr@xy-pass")).toEqual(["0.sink.endpoint"])
    expect(found("m0ngo-pass")).toEqual(["1.source.url", "1.source.url"])
    expect(found("u:m0ngo-pass")).toEqual(["1.source.url"])
    expect(found("eh+key/value=")).toEqual(["1.sink.connectionString"])
    expect(found("t0ken-in-query")).toEqual(["2.source.url", "2.source.url"])
    expect(visible.has("reader")).toBe(true)
    expect(visible.has("https://proxy:pr%40xy-pass@segment.example/")).toBe(false)
  })

  it("fromConfig scrubs them all and names, once per key, the secrets too short to scrub", () => {
    const { scrubber: fromFile, tooShort } = Secrets.fromConfig([
      { source: { user: "admin", password: Redacted.make("short") }, sink: { writeKey: Redacted.make("a-long-write-key"), url: "http://u:pw@h" } },
      { source: { user: "same-as-user", password: Redacted.make("same-as-user") }, sink: { token: Redacted.make("") } }
    ])
    expect(tooShort.map((found) => found.path.join("."))).toEqual(["0.source.password", "0.sink.url"])
    expect(fromFile.scrub("a-long-write-key, admin:short, short")).toBe("***, ***, short")
  })
})

describe("Secrets.redactUrl and splitUrl", () => {
  it("shows a URL without the password of its userinfo or of its query", () => {
    expect(Secrets.redactUrl("http://user:s3cret@host:8123/path")).toBe("http://user:***@host:8123/path")
    expect(Secrets.redactUrl("HTTPS://host/x?user=a&password=b&db=c")).toBe("HTTPS://host/x?user=a&password=***&db=c")
    expect(Secrets.redactUrl("mongodb://u:p%40ss@a:1,b:2/?authSource=admin")).toBe("mongodb://u:***@a:1,b:2/?authSource=admin")
    expect(Secrets.redactUrl("http://only-user@host")).toBe("http://only-user@host")
    expect(Secrets.redactUrl("not a url")).toBe("not a url")
  })

  it("cuts the userinfo at the last @ of the authority, as the URL standard does", () => {
    expect(Secrets.splitUrl("mongodb+srv://u:p@ss@cluster.example/db")).toEqual({ scheme: "mongodb+srv", userinfo: "u:p@ss", authority: "cluster.example", rest: "/db" })
    expect(Secrets.splitUrl("localhost:8123")).toBeUndefined()
  })

  it("says what is wrong with a host and port, quoting the part or not", () => {
    expect(Secrets.authorityProblem("local host:8123")).toBe(`its host "local host" is not a host name (letters, digits, '-' and '.')`)
    expect(Secrets.authorityProblem("host:99999", { quote: false })).toBe("its port is not a port (1 to 65535)")
    expect(Secrets.authorityProblem("")).toBe("it names no host")
    expect(Secrets.authorityProblem("cluster.example:27017", { port: false })).toMatch(/^it has a port/)
    for (const ok of ["localhost", "127.0.0.1:8123", "[::1]:5432", "ch-1.internal_net:443"]) expect(Secrets.authorityProblem(ok), ok).toBeUndefined()
  })
})

const tempDir = Effect.acquireRelease(
  Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), "featbit-export-secrets-"))),
  (dir) => Effect.promise(() => fs.rm(dir, { recursive: true, force: true }))
)

const event = {
  event: "CustomEvent",
  id: "0b6c1f0e-6a43-4b8e-9a55-2f7d1c9e4a11",
  envId: "32f6be54-6796-44dd-bc82-f4824b0da13c",
  timestamp: "2023-12-12T07:45:01.123000Z" as Timestamp,
  user: { keyId: "tester", name: `echoed ${SECRET}` }
} as unknown as ExportEvent

describe("the file stores, given a SecretScrubber", () => {
  it.scopedLive("dead letters: the reason, the event and the row are scrubbed; the letter's identity is kept", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const letters: ReadonlyArray<DeadLetter.DeadLetter> = [
        { at: "2024-01-02T03:04:05.000Z", pipeline: "p", stage: "sink", plugin: "segment", id: event.id, reason: `HTTP 400: you sent Basic ${b64(`${SECRET}:`)}`, event },
        { at: "2024-01-02T03:04:06.000Z", pipeline: "p", stage: "source", plugin: "clickhouse", id: "r1", reason: "bad row", row: { raw: JSON.stringify({ key: SECRET }), _offset: 7n } }
      ]
      // Through the layer, as the runner builds it: the scrubber comes from the context.
      yield* Effect.flatMap(DeadLetter.DeadLetterStore, (store) => store.append("p", letters)).pipe(
        Effect.provide(DeadLetter.layerFile(dir)),
        Effect.provideService(Secrets.SecretScrubber, scrubber)
      )
      const text = yield* Effect.promise(() => fs.readFile(DeadLetter.deadLetterFile(dir, "p"), "utf8"))
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(JSON.stringify(SECRET).slice(1, -1))
      expect(text).not.toContain(b64(`${SECRET}:`))
      const [sink, source] = text.trim().split("\n").map((line) => JSON.parse(line))
      expect(sink).toMatchObject({ at: letters[0]!.at, pipeline: "p", stage: "sink", plugin: "segment", id: event.id, reason: "HTTP 400: you sent Basic ***" })
      expect(sink.event.user).toEqual({ keyId: "tester", name: "echoed ***" })
      expect(source.row).toEqual({ raw: '{"key":"***"}', _offset: "7" })
    })
  )

  it.scopedLive("dead letters: without a scrubber, written as they are", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      yield* DeadLetter.makeFile(dir).append("p", [{ at: "t", pipeline: "p", stage: "sink", plugin: "x", id: "1", reason: SECRET }])
      const text = yield* Effect.promise(() => fs.readFile(DeadLetter.deadLetterFile(dir, "p"), "utf8"))
      expect(JSON.parse(text).reason).toBe(SECRET)
    })
  )

  it.scopedLive("checkpoints: the source's state and selection are scrubbed, the cursor and totals kept", () =>
    Effect.gen(function* () {
      const dir = yield* tempDir
      const saved: CheckpointStore.Checkpoint = {
        version: 2,
        pipeline: "p",
        cursor: { timestamp: "2023-12-12T07:42:13.320123Z" as Timestamp, id: "4be3e7b9-3db7-4537-8e46-b2831f579bcf" },
        state: { note: `proxy said ${SECRET}`, buckets: [1, 2] },
        selection: { source: "webhook", where: `https://u:${encodeURIComponent(SECRET)}@h/`, envIds: null, events: null, startAt: null, endAt: null },
        committedAt: "2024-01-02T03:04:05.000Z",
        exported: 3,
        deadLettered: 0
      }
      const store = yield* Effect.provide(CheckpointStore.CheckpointStore, Layer.provide(CheckpointStore.layerFile(dir), Layer.succeed(Secrets.SecretScrubber, scrubber)))
      yield* store.save(saved)
      const text = yield* Effect.promise(() => fs.readFile(CheckpointStore.checkpointFile(dir, "p"), "utf8"))
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(encodeURIComponent(SECRET))
      const loaded = yield* store.load("p")
      expect(loaded._tag).toBe("Some")
      if (loaded._tag === "Some") {
        expect(loaded.value.cursor).toEqual(saved.cursor)
        expect(loaded.value.state).toEqual({ note: "proxy said ***", buckets: [1, 2] })
        expect(loaded.value.selection?.["where"]).toBe("https://u:***@h/")
        expect(loaded.value.exported).toBe(3)
      }
    })
  )
})

describe("scrubberOf and excerpt", () => {
  it("make one scrubber per list and options, and cut a quote only once it is scrubbed", () => {
    const secrets = ["s3cr3t-password-value"]
    expect(Secrets.scrubberOf(secrets)).toBe(Secrets.scrubberOf(secrets))
    expect(Secrets.scrubberOf(secrets, { minLength: 1 })).not.toBe(Secrets.scrubberOf(secrets))
    const said = `login refused for\n  ${secrets[0]} (${Buffer.from(`admin:${secrets[0]}`).toString("base64")})`
    // The base64 of user:secret carries the secret's own bytes only from an offset; it is scrubbed too.
    expect(Secrets.excerpt(said, Secrets.scrubberOf(secrets))).toBe("login refused for *** (YWRtaW46***)")
    expect(Secrets.excerpt(said, Secrets.scrubberOf(secrets), 25)).toBe("login refused for *** (YW…")
    expect(Secrets.excerpt("  one\n two  ", Secrets.none)).toBe("one two")
  })
})
