/**
 * Sustained concurrency: the time-weighted mean number of requests in flight over a period.
 *
 * A pool in `reuse` isolation sizes its idle capacity by this rather than by the instantaneous
 * peak. By Little's law the number in flight is the arrival rate times the latency, so on a busy
 * host any stall (a garbage collection, a neighbour's process start, the scheduler) shows up as a
 * peak of requests in flight without any more demand: at 1,500 requests/s a 10 ms hiccup puts 15
 * more in flight. Sized by such peaks, a pool starts instances that only take CPU from the
 * requests they were meant to help. The mean over a second moves only with sustained
 * concurrency; a burst that really fills the slots queues requests, and those start instances at
 * once (pool.ts).
 */
export class MeanInflight {
  private area = 0;
  private current = 0;
  private last: number;
  private since: number;

  constructor(now: number) {
    this.last = this.since = now;
  }

  /** The number in flight became `n` at `now` (ms, monotonic). */
  set(n: number, now: number) {
    this.area += this.current * (now - this.last);
    this.last = now;
    this.current = n;
  }

  /** The mean since the previous call (or construction, or `reset`); starts the next period. */
  take(now: number): number {
    this.set(this.current, now);
    const span = now - this.since;
    const mean = span > 0 ? this.area / span : this.current;
    this.area = 0;
    this.since = now;
    return mean;
  }

  /** Forgets the period so far (the number in flight stays). */
  reset(now: number) {
    this.set(this.current, now);
    this.area = 0;
    this.since = now;
  }
}
