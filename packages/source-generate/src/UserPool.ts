import type { EventUser } from "@featbit-export/core"
import { handWrittenUsers } from "./Pools.js"

// Real FeatBit traffic has a different user for nearly every event, so the pool is large: the hand-written
// users first (they carry the names that break hand-built JSON and CSV), then users made from their
// position alone. A user depends only on its position, never on the seed, so a pool of 500 is a prefix of
// a pool of 20,000 and every run agrees on who `u-010007` is.

/** Users in the pool when no size is given. */
export const DEFAULT_USERS = 20_000
/** The largest pool: the generator draws a user with `Prng.below`, which is exact below 2^21. */
export const MAX_USERS = 1_000_000

interface Script {
  readonly first: ReadonlyArray<string>
  readonly last: ReadonlyArray<string>
  /** How the script writes a full name. */
  readonly join: (first: string, last: string) => string
}

const givenThenFamily = (first: string, last: string): string => `${first} ${last}`

/** A few names in several scripts, so non-ASCII text is the rule rather than the exception. */
const scripts: ReadonlyArray<Script> = [
  {
    first: ["Emma", "Liam", "Sofía", "Mateo", "Chloé", "Lukas", "Inès", "João", "Zoë", "Noah", "Anaïs", "Oskar"],
    last: ["García", "Müller", "O'Connor", "Rossi", "Dubois", "Kowalski", "Nakamura", "D'Amico", "Andersson", "Silva", "Nowak", "Smith"],
    join: givenThenFamily
  },
  {
    first: ["Иван", "Анна", "Дмитрий", "Мария", "Сергей", "Елена"],
    last: ["Иванов", "Смирнова", "Кузнецов", "Попова", "Соколов", "Лебедева"],
    join: givenThenFamily
  },
  { first: ["伟", "芳", "娜", "强", "敏", "杰"], last: ["王", "李", "张", "刘", "陈", "杨"], join: (first, last) => last + first },
  {
    first: ["花子", "健太", "さくら", "翔", "陽菜", "蓮"],
    last: ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺"],
    join: (first, last) => `${last} ${first}`
  },
  { first: ["서연", "민준", "지우", "하준", "서윤", "도윤"], last: ["김", "이", "박", "최", "정", "강"], join: (first, last) => last + first },
  {
    first: ["محمد", "فاطمة", "أحمد", "ليلى", "عمر", "نور"],
    last: ["الحسن", "العلي", "منصور", "حداد", "خليل", "سعيد"],
    join: givenThenFamily
  },
  { first: ["Γιώργος", "Ελένη", "Νίκος", "Μαρία"], last: ["Παπαδόπουλος", "Οικονόμου", "Γεωργίου", "Νικολάου"], join: givenThenFamily },
  { first: ["आरव", "प्रिया", "विवान", "अनन्या"], last: ["शर्मा", "पटेल", "गुप्ता", "सिंह"], join: givenThenFamily }
]

/** Half the generated users have Latin-script names, the others are spread over the other scripts. */
const scriptOrder: ReadonlyArray<Script> = scripts.slice(1).flatMap((script) => [scripts[0]!, script])

const fullNames: ReadonlyArray<ReadonlyArray<string>> = scriptOrder.map((script) =>
  script.last.flatMap((last) => script.first.map((first) => script.join(first, last)))
)
const fullNameJsons: ReadonlyArray<ReadonlyArray<string>> = fullNames.map((names) => names.map((name) => JSON.stringify(name)))

const handles = ["alex", "sam", "kim", "lee", "max", "jo", "ana", "li", "noor", "yuki"]
const mailDomains = ["example.com", "example.org", "mail.example.net"]

/**
 * Numbered ids start above the hand-written ones (the highest is `u-007000`), so no generated user shares
 * a keyId with a hand-written one, and have at least six digits without padding.
 */
const FIRST_NUMBERED_ID = 100_000

/** An odd multiplier is a bijection on 32-bit words: guest ids look random and never repeat. */
const guestHex = (ordinal: number): string => (Math.imul(ordinal + 1, 0x9e3779b1) >>> 0).toString(16).padStart(8, "0")

// Generated users are computed from their position when a row needs them rather than kept as a table of
// user objects: such a table of 20,000 did not stay in the CPU's cache and cost a fifth of the generation
// rate. Names come from small tables encoded once; only keyIds are kept, one short string per user met.

/** Mostly account ids, some e-mail addresses, and anonymous guests, who have no name. */
const formOf = (ordinal: number): "account" | "email" | "guest" => {
  const form = ordinal % 10
  return form < 7 ? "account" : form < 9 ? "email" : "guest"
}

/** The keyId of the `ordinal`-th generated user, without JSON quotes: it needs no escaping. */
const generatedKeyId = (ordinal: number): string => {
  switch (formOf(ordinal)) {
    case "account":
      return "u-" + (FIRST_NUMBERED_ID + ordinal)
    case "email":
      return handles[ordinal % handles.length]! + "." + ordinal + "@" + mailDomains[ordinal % mailDomains.length]!
    case "guest":
      return "guest-" + guestHex(ordinal)
  }
}

/** Scattered, so that neighbouring users do not share a family name. */
const nameIndex = (ordinal: number, names: ReadonlyArray<string>): number =>
  (Math.imul(ordinal, 0x2545f491) >>> 16) % names.length

const generatedName = (ordinal: number, table: ReadonlyArray<ReadonlyArray<string>>, empty: string): string => {
  if (formOf(ordinal) === "guest") return empty
  const names = table[ordinal % scriptOrder.length]!
  return names[nameIndex(ordinal, names)]!
}

const handWrittenNameJsons = handWrittenUsers.map((user) => JSON.stringify(user.name))
const HAND_WRITTEN = handWrittenUsers.length

/** The user at `index` of every pool larger than `index`. */
export const userAt = (index: number): EventUser =>
  index < HAND_WRITTEN
    ? handWrittenUsers[index]!
    : { keyId: generatedKeyId(index - HAND_WRITTEN), name: generatedName(index - HAND_WRITTEN, fullNames, "") }

// Each keyId is written once and kept, flat: turning a number into text for every row cost a tenth of
// the generation rate.
const keyIdJsons: Array<string | undefined> = handWrittenUsers.map((user) => JSON.stringify(user.keyId))

const encodeKeyId = (index: number): string => {
  const text = '"' + generatedKeyId(index - HAND_WRITTEN) + '"'
  text.charCodeAt(0) // flattens it, once
  keyIdJsons[index] = text
  return text
}

/**
 * Makes room for keyIds up to `size` before rows are built: filled with `undefined` rather than left with
 * holes, which would turn a large array into a slow dictionary.
 */
export const reserveKeyIds = (size: number): void => {
  for (let i = keyIdJsons.length; i < size; i++) keyIdJsons.push(undefined)
}

/** `JSON.stringify(userAt(index).keyId)`, the way the generator needs it, built without a user object. */
export const keyIdJsonAt = (index: number): string => keyIdJsons[index] ?? encodeKeyId(index)

/** `JSON.stringify(userAt(index).name)`, from tables encoded once. */
export const nameJsonAt = (index: number): string =>
  index < HAND_WRITTEN ? handWrittenNameJsons[index]! : generatedName(index - HAND_WRITTEN, fullNameJsons, '""')

export const checkUserPoolSize = (size: number): number => {
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_USERS) {
    throw new RangeError(`users must be a whole number from 1 to ${MAX_USERS}, got ${size}`)
  }
  return size
}

/** The first `size` users (default `DEFAULT_USERS`): the hand-written ones, then generated ones. */
export const userPool = (size: number = DEFAULT_USERS): ReadonlyArray<EventUser> =>
  Array.from({ length: checkUserPoolSize(size) }, (_, i) => userAt(i))
