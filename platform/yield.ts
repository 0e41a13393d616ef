/**
 * Lets the event loop handle what is waiting (requests in flight, their sockets' data) before
 * the caller goes on.
 *
 * The daemon serves every invocation on one event loop, so its own synchronous bookkeeping
 * (SQLite, files, process starts) delays every request in flight for as long as it runs. A
 * deploy's steps, run back to back, blocked the loop for 5-10 ms at its start and 10-30 ms at its
 * end on an idle host, and longer on a busy one (measured with an event-loop drift probe: under
 * 1,000 requests/s most requests delayed by a deploy of another function fell in its first
 * 100 ms). Yielding between steps runs that work in short slices between requests instead.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
