/**
 * What a receiver run as its own process does once listening: prints `{"url": ...}` as one line on stdout
 * (the parent reads it to learn the port), and stops and exits 0 on each of `signals`.
 */
export const announceUntilSignalled = (
  receiver: { readonly url: string; readonly stop: () => Promise<void> },
  signals: ReadonlyArray<NodeJS.Signals> = ["SIGTERM"]
): void => {
  process.stdout.write(`${JSON.stringify({ url: receiver.url })}\n`)
  const stop = () => void receiver.stop().then(() => process.exit(0))
  for (const signal of signals) process.on(signal, stop)
}
