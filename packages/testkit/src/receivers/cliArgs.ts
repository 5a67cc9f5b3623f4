/** The value after `--name` on the command line, or undefined when the flag is absent. */
export const arg = (name: string): string | undefined => {
  const at = process.argv.indexOf(name)
  return at === -1 ? undefined : process.argv[at + 1]
}

/** Whether a value-less flag (`--keep-events`) is on the command line. */
export const flag = (name: string): boolean => process.argv.includes(name)
