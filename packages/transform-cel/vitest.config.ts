import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "@featbit-export/transform-cel",
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
