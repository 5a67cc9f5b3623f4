import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "@featbit-export/object-storage",
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000
  }
})
