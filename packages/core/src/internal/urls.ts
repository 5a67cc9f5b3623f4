/**
 * URLs and connection strings as this project meets them in pipeline files: where their credentials sit,
 * and how to show them without.
 */

/** A `scheme://[userinfo@]authority[rest]` text, cut where the URL standard cuts it. */
export interface UrlParts {
  /** Lowercase, without `://`: `http`, `mongodb+srv`. */
  readonly scheme: string
  /** What stood before the last `@` of the authority, as written (percent-encoded); undefined without one. */
  readonly userinfo: string | undefined
  /** Host(s) and port(s), as written: `host:8123`, `[::1]:5432`, `a:27017,b:27017`. */
  readonly authority: string
  /** From the first `/`, `?` or `#` after the authority on, as written. */
  readonly rest: string
}

// The authority ends at the first "/", "?" or "#"; its userinfo at the last "@" in it (the URL standard's
// reading: an earlier "@" belongs to the password).
const URL_SHAPE = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([\s\S]*)$/i

/** Splits a URL-like text; undefined when it has no `scheme://`. */
export const splitUrl = (text: string): UrlParts | undefined => {
  const match = URL_SHAPE.exec(text.trim())
  if (match === null) return undefined
  const whole = match[2]!
  const at = whole.lastIndexOf("@")
  return {
    scheme: match[1]!.toLowerCase(),
    userinfo: at === -1 ? undefined : whole.slice(0, at),
    authority: at === -1 ? whole : whole.slice(at + 1),
    rest: match[3]!
  }
}

/** A host name, an IPv4 address or a bracketed IPv6 one. */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])$/

/**
 * What is wrong with one `host[:port]`, as the end of a sentence ("its host "a b" is not a host name");
 * undefined when nothing is. It names the part at fault, never the whole value (which may come from the
 * environment), and not even the part with `quote: false` (for a URL that is a secret as a whole). For
 * plugins that check their URLs when the file loads.
 */
export const authorityProblem = (
  authority: string,
  options: { readonly port?: boolean; readonly quote?: boolean } = {}
): string | undefined => {
  const match = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(authority)
  const host = match?.[1] ?? ""
  const port = match?.[2]
  const shown = (part: string) => (options.quote === false ? "" : ` ${JSON.stringify(part)}`)
  if (host === "") return "it names no host"
  if (!HOST.test(host)) return `its host${shown(host)} is not a host name (letters, digits, '-' and '.')`
  if (port !== undefined && options.port === false) return "it has a port, which this kind of URL takes from DNS; remove it"
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    return `its port${shown(port)} is not a port (1 to 65535)`
  }
  return undefined
}

const decode = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** Query parameters that carry credentials (`?password=`, a SAS `sig=`, an API token). */
const SECRET_PARAM = /^(?:password|passwd|pwd|pass|secret|token|access_?token|api_?key|apikey|sig|signature|x-clickhouse-key)$/i

/** The query of `rest` as `[name, value]` pairs, as written. */
const queryPairs = (rest: string): Array<[string, string]> => {
  const query = /\?([^#]*)/.exec(rest)?.[1]
  if (query === undefined || query === "") return []
  return query.split("&").flatMap((pair): Array<[string, string]> => {
    const eq = pair.indexOf("=")
    return eq <= 0 ? [] : [[pair.slice(0, eq), pair.slice(eq + 1)]]
  })
}

/**
 * The credentials a URL carries: the password of its userinfo (as written and decoded), `user:password`
 * (as HTTP Basic builds it from them), and the values of credential query parameters.
 */
export const urlSecrets = (text: string): Array<string> => {
  const parts = splitUrl(text)
  if (parts === undefined) return []
  const found: Array<string> = []
  if (parts.userinfo !== undefined) {
    const colon = parts.userinfo.indexOf(":")
    const password = colon === -1 ? "" : parts.userinfo.slice(colon + 1)
    if (password !== "") {
      const user = parts.userinfo.slice(0, colon)
      found.push(password, decode(password), `${decode(user)}:${decode(password)}`)
    }
  }
  for (const [name, value] of queryPairs(parts.rest)) {
    if (SECRET_PARAM.test(decode(name)) && value !== "") found.push(value, decode(value.replace(/\+/g, " ")))
  }
  return found
}

/**
 * The URL as it may be shown: `http://user:***@host:8123`, with credential query parameters masked too.
 * Text that is no URL comes back as it is.
 */
export const redactUrl = (text: string, mask = "***"): string => {
  const parts = splitUrl(text)
  if (parts === undefined) return text
  const colon = parts.userinfo?.indexOf(":") ?? -1
  const userinfo =
    parts.userinfo === undefined ? "" : colon === -1 || colon === parts.userinfo.length - 1 ? `${parts.userinfo}@` : `${parts.userinfo.slice(0, colon)}:${mask}@`
  const rest = parts.rest.replace(/([?&])([^=&#]+)=([^&#]*)/g, (whole, sep: string, name: string, value: string) =>
    SECRET_PARAM.test(decode(name)) && value !== "" ? `${sep}${name}=${mask}` : whole
  )
  const start = text.trim().slice(0, text.trim().indexOf("://") + 3)
  return `${start}${userinfo}${parts.authority}${rest}`
}

/** Keys of `Key=value;` connection strings whose value is a credential. */
const SECRET_FIELD = /^(?:sharedaccesskey|sharedaccesssignature|accountkey|password|pwd)$/i

/** The credentials of a `Key=value;...` connection string (Azure's): `SharedAccessKey=`, `AccountKey=`, `Password=`. */
export const connectionStringSecrets = (text: string): Array<string> => {
  if (!/;|^\s*\w+\s*=/.test(text)) return []
  return text.split(";").flatMap((part) => {
    const eq = part.indexOf("=")
    if (eq <= 0) return []
    const value = part.slice(eq + 1).trim()
    return SECRET_FIELD.test(part.slice(0, eq).trim()) && value !== "" ? [value] : []
  })
}
