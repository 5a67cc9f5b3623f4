import { execFile } from "node:child_process"
import * as fs from "node:fs/promises"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { ConfigError } from "@featbit-export/core"
import * as Effect from "effect/Effect"
import * as YAML from "yaml"

/**
 * Until `@featbit-export/*` is on the npm registry, a plugin scaffolded from a checkout of this repository
 * installs the checkout's own packages, packed as tarballs into the plugin's folder: `npm install` then
 * needs the registry only for third-party packages. Tarballs rather than `file:` links to the package
 * folders: a link resolves `effect` from the checkout's node_modules, a second copy beside the plugin's, and
 * the folders' manifests hold pnpm's `workspace:` and `catalog:` specs, which npm cannot read.
 */
export interface LocalPackage {
  readonly name: string
  readonly version: string
  readonly dir: string
}

interface Manifest {
  readonly name: string
  readonly version: string
  readonly files?: ReadonlyArray<string>
  readonly [key: string]: unknown
}

const dependencyFields = ["dependencies", "peerDependencies", "optionalDependencies"] as const

const failure = (message: string) => new ConfigError({ file: "command line", issues: [{ path: [], message }] })

const readManifest = async (dir: string): Promise<Manifest> => JSON.parse(await fs.readFile(path.join(dir, "package.json"), "utf8")) as Manifest

/**
 * The folder of `name` as `from` resolves it, when it is a package of a checkout rather than one installed
 * from a registry: resolution follows pnpm's workspace links to the real folder, which lies outside any
 * node_modules only in a checkout.
 */
const checkoutFolder = (from: string, name: string): string | undefined => {
  try {
    const dir = path.dirname(createRequire(path.join(from, "noop.js")).resolve(`${name}/package.json`))
    return dir.split(path.sep).includes("node_modules") ? undefined : dir
  } catch {
    return undefined
  }
}

/**
 * `names` and the workspace packages they depend on (the test kit uses source-generate), as the runner at
 * `runnerDir` resolves them; undefined when the runner does not run from a checkout (it was installed from
 * the registry, which then has them too).
 */
export const checkoutPackages = async (runnerDir: string, names: ReadonlyArray<string>): Promise<ReadonlyArray<LocalPackage> | undefined> => {
  const found = new Map<string, LocalPackage>()
  const visit = async (from: string, name: string): Promise<boolean> => {
    if (found.has(name)) return true
    const dir = checkoutFolder(from, name)
    if (dir === undefined) return false
    const manifest = await readManifest(dir)
    found.set(name, { name, version: manifest.version, dir })
    for (const field of dependencyFields) {
      for (const [dependency, spec] of Object.entries((manifest[field] ?? {}) as Record<string, string>)) {
        if (spec.startsWith("workspace:") && !(await visit(dir, dependency))) return false
      }
    }
    return true
  }
  for (const name of names) if (!(await visit(runnerDir, name))) return undefined
  return [...found.values()]
}

/** The catalogs of the pnpm workspace that holds `dir`: `catalog:` specs name their entries. */
const workspaceCatalogs = async (dir: string): Promise<{ readonly catalog?: Record<string, string>; readonly catalogs?: Record<string, Record<string, string>> }> => {
  for (let at = dir; ; at = path.dirname(at)) {
    const text = await fs.readFile(path.join(at, "pnpm-workspace.yaml"), "utf8").catch(() => undefined)
    if (text !== undefined) return (YAML.parse(text) ?? {}) as never
    if (path.dirname(at) === at) return {}
  }
}

/**
 * The manifest as `pnpm pack` would publish it: `workspace:` and `catalog:` specs become the versions they
 * stand for, and devDependencies (which only the checkout installs) are dropped.
 */
export const publishedManifest = (
  manifest: Manifest,
  versions: ReadonlyMap<string, string>,
  catalogs: { readonly catalog?: Record<string, string>; readonly catalogs?: Record<string, Record<string, string>> }
): Manifest => {
  const resolve = (dependency: string, spec: string): string => {
    if (spec.startsWith("workspace:")) {
      const range = spec.slice("workspace:".length)
      const version = versions.get(dependency)
      if (version === undefined) throw new Error(`${manifest.name} depends on ${dependency} of the workspace, which was not packed`)
      return range === "^" || range === "~" ? `${range}${version}` : range === "*" ? version : range
    }
    if (spec.startsWith("catalog:")) {
      const name = spec.slice("catalog:".length)
      const entry = name === "" || name === "default" ? catalogs.catalog?.[dependency] : catalogs.catalogs?.[name]?.[dependency]
      if (entry === undefined) throw new Error(`${manifest.name} takes ${dependency} from the pnpm catalog ${name || "default"}, which has no entry for it`)
      return entry
    }
    return spec
  }
  const published: Record<string, unknown> = { ...manifest }
  delete published["devDependencies"]
  for (const field of dependencyFields) {
    const deps = manifest[field] as Record<string, string> | undefined
    if (deps !== undefined) published[field] = Object.fromEntries(Object.entries(deps).map(([dependency, spec]) => [dependency, resolve(dependency, spec)]))
  }
  return published as Manifest
}

const npm = (args: ReadonlyArray<string>, cwd: string): Promise<string> =>
  new Promise((resolve, reject) =>
    // npm is a .cmd script on Windows, which only a shell runs.
    execFile("npm", args, { cwd, encoding: "utf8", shell: process.platform === "win32" }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(stderr.trim().split("\n").pop() ?? error.message))
    )
  )

/** Packs one package with `npm pack` from a staging copy (its `files` and the published manifest), into `into`. */
const packOne = async (pkg: LocalPackage, versions: ReadonlyMap<string, string>, into: string): Promise<string> => {
  const manifest = await readManifest(pkg.dir)
  if (!(await fs.stat(path.join(pkg.dir, "dist")).then(() => true, () => false))) {
    throw new Error(`${pkg.dir} is not built: run \`npx tsc -b tsconfig.json\` at the root of the checkout first`)
  }
  const published = publishedManifest(manifest, versions, await workspaceCatalogs(pkg.dir))
  const stage = await fs.mkdtemp(path.join(os.tmpdir(), "featbit-export-pack-"))
  try {
    // npm pack applies `files` (negations included) again; copying only what it names keeps the copy small.
    for (const entry of (manifest.files ?? []).filter((entry) => !entry.startsWith("!"))) {
      await fs.cp(path.join(pkg.dir, entry), path.join(stage, entry), { recursive: true }).catch((cause: NodeJS.ErrnoException) => {
        if (cause.code !== "ENOENT") throw cause
      })
    }
    await fs.writeFile(path.join(stage, "package.json"), JSON.stringify(published, null, 2) + "\n")
    const out = await npm(["pack", "--ignore-scripts", "--json", "--pack-destination", into], stage)
    return (JSON.parse(out) as Array<{ filename: string }>)[0]!.filename
  } finally {
    await fs.rm(stage, { recursive: true, force: true })
  }
}

/** Packs the packages into the folder `into` (created); each package's tarball file name, by package name. */
export const packPackages = (packages: ReadonlyArray<LocalPackage>, into: string): Effect.Effect<ReadonlyMap<string, string>, ConfigError> =>
  Effect.tryPromise({
    try: async () => {
      await fs.mkdir(into, { recursive: true })
      const versions = new Map(packages.map((pkg) => [pkg.name, pkg.version]))
      // Settled, not raced: a failure removes the folder only once no other pack still writes into it.
      const results = await Promise.allSettled(packages.map((pkg) => packOne(pkg, versions, into)))
      const failed = results.find((result) => result.status === "rejected")
      if (failed !== undefined) {
        await fs.rm(into, { recursive: true, force: true })
        throw failed.reason
      }
      return new Map(packages.map((pkg, i) => [pkg.name, (results[i] as PromiseFulfilledResult<string>).value]))
    },
    catch: (cause) => failure(`cannot pack the checkout's packages for the plugin (${(cause as Error).message}); or give --registry to depend on the published ones`)
  })
