import { type Document, Long, deserialize, serialize } from "bson"
import { Query } from "mingo"
import * as net from "node:net"
import { CommandError, isDoc, mentionsNow, runPipeline, withServerNow } from "./aggregate.js"
import { comparatorOf, compareBson } from "./bsonOrder.js"

export { compareBson } from "./bsonOrder.js"

/**
 * A MongoDB wire-protocol server for tests, driven by the official driver: the OP_QUERY handshake answered
 * with OP_REPLY, then OP_MSG `hello`/`ismaster`, `ping`, `buildInfo`, `find`, `aggregate`, `getMore`,
 * `killCursors`, `endSessions`, `listIndexes`, `listCollections`, and a SCRAM start that can only fail (to
 * test rejected credentials). Documents live in memory; filters are evaluated with `mingo`, sorts with
 * MongoDB's order of BSON types (strings compare bytewise); `aggregate` runs the stages and expressions of
 * `aggregate.ts` with MongoDB's numeric result types. Faults can be injected per command. The server has a
 * clock of its own (`hello`'s `localTime`, `$$NOW`) that can be skewed from the runner's, and can be stopped
 * and started again on its port with its documents kept, as a restarted mongod.
 *
 * Its query support is what the MongoDB source sends; it is no database.
 */

/** An index the server reports from `listIndexes` (it never uses it). */
export interface MongoIndexSpec {
  readonly name: string
  readonly key: Readonly<Record<string, 1 | -1>>
}

/** A fault injected into the next matching command. */
export type MongoFault =
  /** Close the connection instead of replying. */
  | { readonly command: string; readonly action: "drop" }
  /** Reply `{ok: 0, code, codeName, errmsg}`. */
  | { readonly command: string; readonly action: "error"; readonly code: number; readonly codeName: string; readonly errmsg: string }
  /** Never reply (the driver's timeouts fire). */
  | { readonly command: string; readonly action: "hang" }

export interface MongoWireServerOptions {
  /** Most documents in one reply batch, whatever the driver asks: makes cursors need getMore (real servers stop at 16 MB). */
  readonly maxBatchSize?: number
  /** Fail every SCRAM authentication with code 18. */
  readonly rejectAuth?: boolean
  /** The port to listen on (127.0.0.1); 0 (the default) takes any free one. See `freePort`. */
  readonly port?: number
  /** The server's clock runs this far ahead of the runner's (behind when negative): `hello`'s `localTime`, `$$NOW`. */
  readonly clockOffsetMs?: number
}

/**
 * A command the server received: every command of the application, including a `hello` it runs itself
 * (it carries an `lsid`); never a connection's handshake or the driver monitor's heartbeats.
 */
export interface ReceivedCommand {
  readonly name: string
  readonly db: string
  readonly body: Document
}

export interface MongoWireServer {
  readonly port: number
  /** `mongodb://127.0.0.1:PORT/?directConnection=true&serverSelectionTimeoutMS=2000` */
  readonly url: string
  /** The url with credentials and extra query parameters. */
  readonly urlWith: (options: { readonly user?: string; readonly password?: string; readonly params?: Readonly<Record<string, string>> }) => string
  /** Adds documents (kept as given: use bson's Int32/Double to pin numeric types). */
  readonly insert: (database: string, collection: string, documents: ReadonlyArray<Document>) => void
  readonly drop: (database: string, collection: string) => void
  /** The indexes `listIndexes` reports besides `_id_`. */
  readonly setIndexes: (database: string, collection: string, indexes: ReadonlyArray<MongoIndexSpec>) => void
  /** Injects a fault into the next `times` commands named `fault.command`. */
  readonly fail: (fault: MongoFault, times?: number) => void
  readonly commands: Array<ReceivedCommand>
  /** Open connections (the driver's monitor and pool). */
  readonly connections: () => number
  /** The server's clock: the runner's plus the offset. */
  readonly now: () => Date
  /** Skews the server's clock from now on (milliseconds ahead of the runner's; negative: behind). */
  readonly setClockOffset: (ms: number) => void
  /**
   * Goes down as a stopped mongod does: stops listening (connecting is refused) and drops every connection
   * and open cursor; documents, indexes, faults and the command log are kept. Resolves when the port is free.
   */
  readonly stop: () => Promise<void>
  /** Listens again on the same port, with the same documents. Resolves when it accepts connections. */
  readonly start: () => Promise<void>
  /** Whether the server is listening. */
  readonly running: () => boolean
  /** Stops for good. */
  readonly close: () => Promise<void>
}

interface Collection {
  docs: Array<Document>
  sorted: boolean
  indexes: ReadonlyArray<MongoIndexSpec>
}

interface OpenCursor {
  readonly ns: string
  readonly rest: Array<Document>
}

const OP_REPLY = 1
const OP_QUERY = 2004
const OP_MSG = 2013

/** The order documents are kept in: the source's keyset order. */
const KEYSET = { timestamp: 1, _id: 1 } as const
const keysetCompare = comparatorOf(KEYSET)

const sameSort = (sort: Readonly<Record<string, unknown>> | undefined, direction: 1 | -1): boolean => {
  if (sort === undefined) return false
  const entries = Object.entries(sort)
  if (entries.length === 0 || entries.length > 2) return false
  const [first, second] = entries
  if (first === undefined || first[0] !== "timestamp" || Number(first[1]) !== direction) return false
  return second === undefined || (second[0] === "_id" && Number(second[1]) === direction)
}

/**
 * The value with every BSON Binary (a UUID among them) remade by this server's own bson. A driver loaded
 * through `require` has bson's CommonJS build, whose classes are not the ES module's: mingo would find a
 * filter's UUID unequal to the same UUID inserted by the test. A real server keeps bytes, so this is what
 * it would compare. Other values are kept as given (Int32 and Double pin numeric types).
 */
const ownBinaries = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null || value instanceof Date) return value
  if ((value as { _bsontype?: unknown })._bsontype === "Binary") return (deserialize(serialize({ v: value })) as { v: unknown }).v
  if (Array.isArray(value)) return value.some((item) => typeof item === "object" && item !== null) ? value.map(ownBinaries) : value
  if (Object.getPrototypeOf(value) !== Object.prototype) return value
  let copy: Record<string, unknown> | undefined
  for (const [key, item] of Object.entries(value)) {
    const own = ownBinaries(item)
    if (own !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = own
  }
  return copy ?? value
}

/** The lowest timestamp a filter allows, when it says so at the top level as a Date. */
const lowerBound = (filter: Document): Date | undefined => {
  const condition = filter["timestamp"]
  if (condition instanceof Date) return condition
  if (condition === null || typeof condition !== "object") return undefined
  const c = condition as Record<string, unknown>
  const candidates = [c["$gte"], c["$gt"]].filter((value): value is Date => value instanceof Date)
  return candidates.length === 0 ? undefined : new Date(Math.max(...candidates.map((date) => date.getTime())))
}

const frame = (requestId: number, responseTo: number, opCode: number, body: Buffer): Buffer => {
  const header = Buffer.alloc(16)
  header.writeInt32LE(16 + body.length, 0)
  header.writeInt32LE(requestId, 4)
  header.writeInt32LE(responseTo, 8)
  header.writeInt32LE(opCode, 12)
  return Buffer.concat([header, body])
}

const opMsg = (requestId: number, responseTo: number, doc: Document): Buffer => {
  const bson = Buffer.from(serialize(doc))
  const body = Buffer.alloc(5 + bson.length)
  body.writeUInt32LE(0, 0)
  body.writeUInt8(0, 4)
  bson.copy(body, 5)
  return frame(requestId, responseTo, OP_MSG, body)
}

const opReply = (requestId: number, responseTo: number, doc: Document): Buffer => {
  const bson = Buffer.from(serialize(doc))
  const body = Buffer.alloc(20 + bson.length)
  body.writeInt32LE(0, 0) // flags
  body.writeBigInt64LE(0n, 4) // cursorId
  body.writeInt32LE(0, 12) // startingFrom
  body.writeInt32LE(1, 16) // numberReturned
  bson.copy(body, 20)
  return frame(requestId, responseTo, OP_REPLY, body)
}

/**
 * Reads an OP_MSG's body: section 0 is the command, kind-1 sections become arrays under their identifier.
 * With `promoteValues` false, the command's numbers stay Int32/Double/Long (as `aggregate` needs them).
 */
const readOpMsg = (message: Buffer, promoteValues = true): Document => {
  const flags = message.readUInt32LE(16)
  const end = flags & 1 ? message.length - 4 : message.length
  let offset = 20
  let body: Document = {}
  const sequences: Record<string, Array<Document>> = {}
  while (offset < end) {
    const kind = message.readUInt8(offset)
    offset += 1
    if (kind === 0) {
      const size = message.readInt32LE(offset)
      body = deserialize(message.subarray(offset, offset + size), promoteValues ? { promoteLongs: false } : { promoteValues: false })
      offset += size
    } else {
      const size = message.readInt32LE(offset)
      const sectionEnd = offset + size
      let cursor = offset + 4
      const nul = message.indexOf(0, cursor)
      const identifier = message.toString("utf8", cursor, nul)
      cursor = nul + 1
      const docs: Array<Document> = []
      while (cursor < sectionEnd) {
        const docSize = message.readInt32LE(cursor)
        docs.push(deserialize(message.subarray(cursor, cursor + docSize)))
        cursor += docSize
      }
      sequences[identifier] = docs
      offset = sectionEnd
    }
  }
  return { ...body, ...sequences }
}

/** Reads an OP_QUERY's command document. */
const readOpQuery = (message: Buffer): Document => {
  const nul = message.indexOf(0, 20)
  const offset = nul + 1 + 8 // numberToSkip, numberToReturn
  const size = message.readInt32LE(offset)
  return deserialize(message.subarray(offset, offset + size))
}

/**
 * The hint MongoDB would accept: an index of the collection by name or by key (in field order, with its
 * directions), or `{$natural: ±1}`. On a collection that does not exist every hint is accepted (MongoDB plans
 * nothing there); otherwise a hint of no index fails with code 2, as MongoDB's planner does.
 */
const checkHint = (collection: Collection | undefined, hint: unknown): void => {
  if (hint === undefined || hint === null || collection === undefined) return
  const indexes: ReadonlyArray<MongoIndexSpec> = [{ name: "_id_", key: { _id: 1 } }, ...collection.indexes]
  if (typeof hint === "string") {
    if (indexes.some((index) => index.name === hint)) return
  } else if (isDoc(hint)) {
    const entries = Object.entries(hint)
    if (entries.length === 1 && entries[0]![0] === "$natural") return
    const sameKey = (key: Readonly<Record<string, 1 | -1>>): boolean => {
      const keyEntries = Object.entries(key)
      return keyEntries.length === entries.length && keyEntries.every(([field, direction], i) => entries[i]![0] === field && Number(entries[i]![1]) === direction)
    }
    if (indexes.some((index) => sameKey(index.key))) return
  }
  throw new CommandError(2, "BadValue", "error processing query: planner returned error :: caused by :: hint provided does not correspond to an existing index")
}

/** A port that was free a moment ago (the system's pick), for a server that must come back on a known port. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const port = (probe.address() as net.AddressInfo).port
      probe.close(() => resolve(port))
    })
  })

/** Whether a connection to the port on 127.0.0.1 is refused (nothing listens there). */
export const connectionRefused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => {
      socket.destroy()
      resolve(false)
    })
    socket.once("error", () => resolve(true))
  })

export const startMongoWireServer = (options: MongoWireServerOptions = {}): Promise<MongoWireServer> => {
  const collections = new Map<string, Collection>()
  const cursors = new Map<number, OpenCursor>()
  const faults: Array<{ fault: MongoFault; remaining: number }> = []
  const commands: Array<ReceivedCommand> = []
  const sockets = new Set<net.Socket>()
  let nextCursorId = 1
  let nextRequestId = 1
  let connectionIds = 0
  let clockOffsetMs = options.clockOffsetMs ?? 0
  const serverNow = (): Date => new Date(Date.now() + clockOffsetMs)

  const collectionOf = (ns: string): Collection => {
    let found = collections.get(ns)
    if (found === undefined) {
      found = { docs: [], sorted: true, indexes: [] }
      collections.set(ns, found)
    }
    return found
  }

  const hello = (connectionId: number, request: Document): Document => ({
    ok: 1,
    ismaster: true,
    isWritablePrimary: true,
    helloOk: true,
    maxWireVersion: 21,
    minWireVersion: 0,
    maxBsonObjectSize: 16777216,
    maxMessageSizeBytes: 48000000,
    maxWriteBatchSize: 100000,
    localTime: serverNow(),
    logicalSessionTimeoutMinutes: 30,
    connectionId,
    ...(request["saslSupportedMechs"] === undefined ? {} : { saslSupportedMechs: ["SCRAM-SHA-256", "SCRAM-SHA-1"] })
  })

  const batch = (requested: unknown, limitLeft: number): number => {
    let size = typeof requested === "number" && requested > 0 ? requested : 101
    if (options.maxBatchSize !== undefined) size = Math.min(size, options.maxBatchSize)
    return Math.min(size, limitLeft)
  }

  const openCursor = (ns: string, docs: Array<Document>, batchSize: unknown, key: "firstBatch" | "nextBatch", id?: number): Document => {
    const size = batch(batchSize, docs.length)
    const first = docs.slice(0, size)
    const rest = docs.slice(size)
    let cursorId = 0
    if (rest.length > 0) {
      cursorId = id ?? nextCursorId++
      cursors.set(cursorId, { ns, rest })
    } else if (id !== undefined) {
      cursors.delete(id)
    }
    return { ok: 1, cursor: { id: Long.fromNumber(cursorId), ns, [key]: first } }
  }

  const find = (db: string, body: Document): Document => {
    const name = String(body["find"])
    const ns = `${db}.${name}`
    checkHint(collections.get(ns), body["hint"])
    const collection = collectionOf(ns)
    const sent = (body["filter"] ?? {}) as Document
    const filter = mentionsNow(sent) ? withServerNow(sent, serverNow()) : sent
    const sort = body["sort"] as Record<string, unknown> | undefined
    const limit = Math.abs(Number(body["limit"] ?? 0)) || Infinity
    const skip = Number(body["skip"] ?? 0)
    const query = new Query(filter)
    const matches: Array<Document> = []
    if (sameSort(sort, 1) || sameSort(sort, -1)) {
      if (!collection.sorted) {
        collection.docs.sort(keysetCompare)
        collection.sorted = true
      }
      const docs = collection.docs
      const wanted = limit + skip
      if (sameSort(sort, 1)) {
        // Start at the filter's lower bound on timestamp, as an index scan would.
        const low = lowerBound(filter)
        let lo = 0
        if (low !== undefined) {
          let hi = docs.length
          while (lo < hi) {
            const mid = (lo + hi) >>> 1
            if (compareBson(docs[mid]!["timestamp"], low) < 0) lo = mid + 1
            else hi = mid
          }
        }
        for (let i = lo; i < docs.length && matches.length < wanted; i++) if (query.test(docs[i]!)) matches.push(docs[i]!)
      } else {
        for (let i = docs.length - 1; i >= 0 && matches.length < wanted; i--) if (query.test(docs[i]!)) matches.push(docs[i]!)
      }
    } else {
      for (const doc of collection.docs) if (query.test(doc)) matches.push(doc)
      if (sort !== undefined && Object.keys(sort).length > 0) matches.sort(comparatorOf(sort))
    }
    const selected = matches.slice(skip, skip + (limit === Infinity ? matches.length : limit))
    const projection = body["projection"] as Document | undefined
    const shaped =
      projection === undefined || Object.keys(projection).length === 0
        ? selected
        : selected.map((doc) => {
            const out: Document = { _id: doc["_id"] }
            for (const [key, include] of Object.entries(projection)) {
              if (key === "_id" && !include) delete out["_id"]
              else if (include) out[key] = doc[key]
            }
            return out
          })
    return openCursor(ns, shaped, body["batchSize"], "firstBatch")
  }

  /** `{aggregate: <collection>, pipeline, cursor: {batchSize?}}`; `typed` is the same command with bson numbers. */
  const aggregate = (db: string, body: Document, typed: Document): Document => {
    const name = body["aggregate"]
    if (typeof name !== "string") throw new CommandError(2, "BadValue", "the wire test server supports only aggregates on a collection ({aggregate: <name>})")
    if (body["explain"] !== undefined) throw new CommandError(2, "BadValue", "the wire test server does not explain aggregates")
    const pipeline = body["pipeline"]
    if (!Array.isArray(pipeline)) throw new CommandError(14, "TypeMismatch", "'pipeline' option must be specified as an array")
    const cursor = body["cursor"]
    if (!isDoc(cursor)) throw new CommandError(9, "FailedToParse", "The 'cursor' option is required, except for aggregate with the explain argument")
    const ns = `${db}.${name}`
    const collection = collections.get(ns)
    checkHint(collection, body["hint"])
    const results = runPipeline(collection?.docs ?? [], pipeline, typed["pipeline"] as Array<unknown>, serverNow())
    return openCursor(ns, results, cursor["batchSize"], "firstBatch")
  }

  const getMore = (body: Document): Document => {
    const id = Number(body["getMore"])
    const open = cursors.get(id)
    if (open === undefined) return { ok: 0, code: 43, codeName: "CursorNotFound", errmsg: `cursor id ${id} not found` }
    return openCursor(open.ns, open.rest, body["batchSize"], "nextBatch", id)
  }

  const run = (db: string, body: Document, message: Buffer): Document => {
    const name = Object.keys(body)[0] ?? ""
    switch (name) {
      case "aggregate":
        return aggregate(db, body, readOpMsg(message, false))
      case "ping":
        return { ok: 1 }
      case "buildInfo":
      case "buildinfo":
        return { ok: 1, version: "7.0.0-wire-test", versionArray: [7, 0, 0, 0], maxBsonObjectSize: 16777216 }
      case "find":
        return find(db, body)
      case "getMore":
        return getMore(body)
      case "killCursors": {
        const ids = ((body["cursors"] ?? []) as Array<unknown>).map((id) => Number(id))
        const killed = ids.filter((id) => cursors.delete(id))
        return { ok: 1, cursorsKilled: killed.map((id) => Long.fromNumber(id)), cursorsNotFound: [], cursorsAlive: [], cursorsUnknown: [] }
      }
      case "endSessions":
        return { ok: 1 }
      case "listIndexes": {
        const ns = `${db}.${String(body["listIndexes"])}`
        const collection = collections.get(ns)
        if (collection === undefined) return { ok: 0, code: 26, codeName: "NamespaceNotFound", errmsg: `ns does not exist: ${ns}` }
        const indexes = [{ v: 2, key: { _id: 1 }, name: "_id_" }, ...collection.indexes.map((index) => ({ v: 2, key: index.key, name: index.name }))]
        return openCursor(ns, indexes, undefined, "firstBatch")
      }
      case "listCollections": {
        const prefix = `${db}.`
        const all = [...collections.keys()].filter((ns) => ns.startsWith(prefix)).map((ns) => ({ name: ns.slice(prefix.length), type: "collection", options: {}, info: { readOnly: false } }))
        const filter = (body["filter"] ?? {}) as Document
        const query = new Query(filter)
        return openCursor(`${db}.$cmd.listCollections`, all.filter((c) => query.test(c)), undefined, "firstBatch")
      }
      case "saslStart":
      case "saslContinue":
        return { ok: 0, code: 18, codeName: "AuthenticationFailed", errmsg: "Authentication failed." }
      default:
        return { ok: 0, code: 59, codeName: "CommandNotFound", errmsg: `no such command: '${name}'` }
    }
  }

  const takeFault = (name: string): MongoFault | undefined => {
    const index = faults.findIndex((entry) => entry.fault.command === name)
    if (index < 0) return undefined
    const entry = faults[index]!
    entry.remaining -= 1
    if (entry.remaining <= 0) faults.splice(index, 1)
    return entry.fault
  }

  const isHello = (name: string): boolean => name === "hello" || name === "ismaster" || name === "isMaster"

  const server = net.createServer((socket) => {
    sockets.add(socket)
    const connectionId = ++connectionIds
    socket.setNoDelay(true)
    socket.on("close", () => sockets.delete(socket))
    socket.on("error", () => socket.destroy())
    let pending: Buffer = Buffer.alloc(0)

    const handle = (message: Buffer): void => {
      const requestId = message.readInt32LE(4)
      const opCode = message.readInt32LE(12)
      if (opCode === OP_QUERY) {
        const doc = readOpQuery(message)
        socket.write(opReply(nextRequestId++, requestId, hello(connectionId, doc)))
        return
      }
      if (opCode !== OP_MSG) {
        socket.destroy()
        return
      }
      const flags = message.readUInt32LE(16)
      const body = readOpMsg(message)
      const name = Object.keys(body)[0] ?? ""
      const db = String(body["$db"] ?? "admin")
      let reply: Document
      if (isHello(name)) {
        // Handshakes and the monitor's heartbeats run without a session; the application's commands with one.
        if (body["lsid"] !== undefined) commands.push({ name, db, body })
        reply = hello(connectionId, body)
      } else {
        commands.push({ name, db, body })
        const fault = takeFault(name)
        if (fault?.action === "drop") {
          socket.destroy()
          return
        }
        if (fault?.action === "hang") return
        if (fault?.action === "error") {
          reply = { ok: 0, errmsg: fault.errmsg, code: fault.code, codeName: fault.codeName }
        } else if (options.rejectAuth !== true && (name === "saslStart" || name === "saslContinue")) {
          reply = { ok: 0, code: 334, codeName: "MechanismUnavailable", errmsg: "this test server has no users" }
        } else {
          try {
            reply = run(db, body, message)
          } catch (error) {
            reply =
              error instanceof CommandError
                ? { ok: 0, errmsg: error.message, code: error.code, codeName: error.codeName }
                : { ok: 0, code: 2, codeName: "BadValue", errmsg: `wire test server: ${String(error)}` }
          }
        }
      }
      if (flags & 2) return // moreToCome: no reply expected
      socket.write(opMsg(nextRequestId++, requestId, reply))
    }

    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      while (pending.length >= 4) {
        const size = pending.readInt32LE(0)
        if (pending.length < size) break
        const message = pending.subarray(0, size)
        pending = pending.subarray(size)
        if (socket.destroyed) return
        handle(message)
      }
    })
  })

  let listening = false
  let closed = false
  let port = options.port ?? 0

  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      if (closed) return reject(new Error("the wire test server was closed"))
      if (listening) return resolve()
      const failed = (error: Error): void => reject(error)
      server.once("error", failed)
      server.listen(port, "127.0.0.1", () => {
        server.off("error", failed)
        port = (server.address() as net.AddressInfo).port
        listening = true
        resolve()
      })
    })

  const stop = (): Promise<void> =>
    new Promise<void>((done) => {
      cursors.clear()
      if (!listening) return done()
      listening = false
      server.close(() => done())
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    })

  return listen().then(() => {
    const urlWith: MongoWireServer["urlWith"] = ({ user, password, params }) => {
      const credentials = user === undefined ? "" : `${encodeURIComponent(user)}${password === undefined ? "" : ":" + encodeURIComponent(password)}@`
      const query = new URLSearchParams({ directConnection: "true", serverSelectionTimeoutMS: "2000", ...params })
      return `mongodb://${credentials}127.0.0.1:${port}/?${query.toString()}`
    }
    return {
      port,
      url: urlWith({}),
      urlWith,
      insert: (database, collection, documents) => {
        const target = collectionOf(`${database}.${collection}`)
        // Not push(...documents): a spread of 200,000 arguments overflows the stack.
        for (const document of documents) target.docs.push(ownBinaries(document) as Document)
        target.sorted = false
      },
      drop: (database, collection) => void collections.delete(`${database}.${collection}`),
      setIndexes: (database, collection, indexes) => {
        collectionOf(`${database}.${collection}`).indexes = indexes
      },
      fail: (fault, times = 1) => void faults.push({ fault, remaining: times }),
      commands,
      connections: () => sockets.size,
      now: serverNow,
      setClockOffset: (ms) => {
        clockOffsetMs = ms
      },
      stop,
      start: listen,
      running: () => listening,
      close: () =>
        stop().then(() => {
          closed = true
        })
    }
  })
}
