import type { EventUser, MetricKind } from "@featbit-export/core"
import { Timestamp } from "@featbit-export/core"

// The fixed vocabulary synthetic events are drawn from (UserPool.ts and FlagPool.ts extend the users and
// flags). It is part of the output: changing a pool changes every generated row for every seed, so demos,
// fixtures and benchmarks stop matching. Add to a pool only with that in mind.

/** Two environment GUIDs; the first is the one in FeatBit's own data-export docs. */
export const defaultEnvIds: readonly [string, ...Array<string>] = [
  "32f6be54-6796-44dd-bc82-f4824b0da13c",
  "9d4e1f7a-3b2c-4e8d-a1f6-5c7b9e2d0a43"
]

export const defaultStart: Timestamp.Timestamp = Timestamp.parse("2024-01-01T00:00:00.000000Z")!

/**
 * The hand-written end users every user pool starts with, as SDKs report them. Names include non-ASCII
 * text, apostrophes, double quotes, a backslash, a tab, an emoji and an empty name, because exporters that
 * build JSON or CSV by hand break on exactly those.
 */
export const handWrittenUsers: ReadonlyArray<EventUser> = [
  { keyId: "tester-id-6973", name: "tester-6973" },
  { keyId: "tester-id-1024", name: "tester-1024" },
  { keyId: "u-000017", name: "Alice Martin" },
  { keyId: "u-000042", name: "Bob Smith" },
  { keyId: "u-000108", name: "Zoë O'Brien" },
  { keyId: "u-000256", name: "李雷" },
  { keyId: "u-000257", name: "韩梅梅" },
  { keyId: "u-000311", name: "José Álvarez" },
  { keyId: "u-000404", name: "Ольга Петрова" },
  { keyId: "u-000512", name: "Mary \"Mae\" Jones" },
  { keyId: "u-000613", name: "محمد عبد الله" },
  { keyId: "u-000700", name: "Björk Guðmundsdóttir" },
  { keyId: "u-000777", name: "Søren Kierkegaard" },
  { keyId: "u-000801", name: "田中 太郎" },
  { keyId: "u-000802", name: "김민준" },
  { keyId: "u-000903", name: "Ana-María Pérez" },
  { keyId: "u-001000", name: "D'Angelo Wright" },
  { keyId: "u-001001", name: "Chloé Dubois" },
  { keyId: "u-001122", name: "Nguyễn Văn An" },
  { keyId: "u-001234", name: "Priya Patel" },
  { keyId: "u-001337", name: "back\\slash user" },
  { keyId: "u-001500", name: "Grace Hopper" },
  { keyId: "u-001618", name: "Ada Lovelace" },
  { keyId: "u-002000", name: "Łukasz Żółw" },
  { keyId: "u-002048", name: "Émile Zola" },
  { keyId: "u-002222", name: "Kwame Mensah" },
  { keyId: "u-003141", name: "Dr. Strange 🧪" },
  { keyId: "u-004096", name: "O'Neil, Shaquille" },
  { keyId: "alice@example.com", name: "alice" },
  { keyId: "bob.smith@example.org", name: "Bob S." },
  { keyId: "guest-7f3a9c", name: "" },
  { keyId: "3c9e2b1a-5d4f-4e6a-8b7c-9d0e1f2a3b4c", name: "anonymous" },
  { keyId: "svc_batch_worker", name: "batch worker" },
  { keyId: "u-005000", name: "Müller-Lüdenscheidt" },
  { keyId: "u-006000", name: "Renée <admin>" },
  { keyId: "u-007000", name: "Tab\tSeparated" }
]

/** The hand-written flags every flag pool starts with: `[key, number of variations]`. */
export const handWrittenFlagKeys: ReadonlyArray<readonly [string, number]> = [
  ["growthbook-test-001", 2],
  ["new-checkout", 2],
  ["dark-mode", 2],
  ["pricing.v2", 3],
  ["search_ranking", 3],
  ["onboarding-flow", 3],
  ["beta.banner", 2],
  ["recommendations-ml", 3],
  ["payment-provider", 3],
  ["homepage-hero", 2],
  ["feature-x_rollout", 2],
  ["rate-limit.tier", 3]
]

/** Metric names per kind; they match `^[a-zA-Z0-9_-]+$` (FeatBit's pending validation, at most 40 chars). */
export const eventNames: Readonly<Record<MetricKind, ReadonlyArray<string>>> = {
  CustomEvent: [
    "checkout-completed",
    "add-to-cart",
    "signup-completed",
    "search_performed",
    "video_played",
    "subscription-upgraded",
    "invite_sent",
    "revenue"
  ],
  PageView: ["home-page", "pricing-page", "docs_page", "checkout-page"],
  Click: ["buy-now-button", "signup_cta", "banner-close", "upgrade-link"]
}

/** The SDK `appType`s FeatBit's server-side SDKs report. */
export const applicationTypes: ReadonlyArray<string> = [
  "dotnet-server-side",
  "javaserverside",
  "goserverside",
  "rust-server-side",
  "ruby-server-side"
]

/** FeatBit's fixed FlagValue route. */
export const flagValueRoute = "/Variation/GetMultiOptionVariation"
/** The route FeatBit SDKs send with metrics. */
export const metricRoute = "index/metric"
