/** The runner as a library: run the CLI with your own plugin registry (tests, embedding). */
export { main, EXIT_CONFIG, EXIT_FAILURE, EXIT_OK } from "./main.js"
export { builtins } from "./Plugins.js"
export { parseArgs, usage } from "./Args.js"
