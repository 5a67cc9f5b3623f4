import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "@featbit-export/enrich-flags",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
