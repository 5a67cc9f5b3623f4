import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "@featbit-export/sink-mixpanel",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000
  }
})
