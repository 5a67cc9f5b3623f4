import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "@featbit-export-examples/sink-webhook",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000
  }
})
