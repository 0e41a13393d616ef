/**
 * Lets the event loop handle what is waiting (requests in flight, their sockets' data) before
 * the caller goes on.
 *
 * The daemon serves every invocation on one event loop, so its own synchronous bookkeeping
 * (SQLite, files, process starts) delays every request in flight for as long as it runs: a
 * deploy's steps, run back to back, would hold the loop for milliseconds at a time. Yielding
 * between steps runs that work in short slices between requests instead.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
