/**
 * Open-loop load: requests issued at a fixed rate whatever the server does, the way independent
 * clients arrive in production. A closed loop (load.ts) sends the next request only when one
 * answers, so a server that stalls is sent less and the stall shows up in a handful of samples
 * ("coordinated omission"); here request i is due at start + i / rate, and its latency is taken
 * from that scheduled time, not from when it was sent. A generator that falls behind (its timer
 * late, its event loop busy) therefore counts as latency too, and that lag is recorded per request
 * so a report can tell it apart.
 *
 * The undici pool has a fixed number of connections; a request issued while all of them are busy
 * waits in the pool's queue (still timed from its schedule), and such requests are counted, since
 * enough connections mean none should.
 */
import { Pool } from 'undici';

/** One request: when it was due, how long it took from then, whether it answered 200. */
export interface OpenSample {
  /** Scheduled start (performance.now() time base). */
  at: number;
  /** From the scheduled start to the end of the response body. */
  ms: number;
  ok: boolean;
  /** Why it failed: the HTTP status, or the client's error code. */
  failure?: string;
  /** How late the generator issued it (sent minus scheduled). */
  lagMs: number;
}

export interface OpenLoopResult {
  samples: OpenSample[];
  /** Requests issued while every connection was busy (they queued in the client). */
  waitedForConnection: number;
  /** The most requests in flight at once. */
  maxInFlight: number;
}

/**
 * Issues GET `path` on `origin` at `rate` requests/s over `connections` keep-alive connections
 * until `until()` turns true, then waits for those in flight. The rate rises linearly from 0 over
 * the first `rampMs` (a server, like any production one, is not hit by its full load from its
 * first millisecond). Timers fire at most once a millisecond, so every tick sends all requests due
 * by then.
 */
export async function openLoop(origin: string, path: string, opts: { rate: number; connections: number; rampMs?: number; until: () => boolean }): Promise<OpenLoopResult> {
  const pool = new Pool(origin, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const due = schedule(opts.rate, opts.rampMs ?? 0);
  const samples: OpenSample[] = [];
  const inFlight = new Set<Promise<void>>();
  let waitedForConnection = 0;
  let maxInFlight = 0;
  const issue = function issue(at: number) {
    const sent = performance.now();
    if (inFlight.size >= opts.connections) waitedForConnection++;
    const done: Promise<void> = pool
      .request({ method: 'GET', path })
      .then(
        async (res) => {
          await res.body.dump();
          return res.statusCode === 200 ? undefined : String(res.statusCode);
        },
        (err: { code?: string }) => err?.code ?? 'error',
      )
      .catch((err: { code?: string }) => err?.code ?? 'error')
      .then((failure) => {
        samples.push({ at, ms: performance.now() - at, ok: failure === undefined, ...(failure === undefined ? {} : { failure }), lagMs: sent - at });
        inFlight.delete(done);
      });
    inFlight.add(done);
    maxInFlight = Math.max(maxInFlight, inFlight.size);
  };
  try {
    const start = performance.now();
    let next = 0;
    await new Promise<void>((resolve) => {
      const tick = function tick() {
        const now = performance.now();
        while (start + due(next) <= now) issue(start + due(next++));
        if (opts.until()) return resolve();
        setTimeout(tick, Math.max(0, start + due(next) - performance.now()));
      };
      tick();
    });
    await Promise.all([...inFlight]);
  } finally {
    await pool.destroy();
  }
  return { samples, waitedForConnection, maxInFlight };
}

/**
 * When request `i` is due (ms from the start) at `rate` per second after a linear ramp of `rampMs`:
 * during the ramp the count issued by t is rate·t²/(2·ramp), afterwards rate·ramp/2 + rate·(t − ramp).
 */
export function schedule(rate: number, rampMs: number): (i: number) => number {
  const perMs = rate / 1000;
  const inRamp = (perMs * rampMs) / 2;
  return (i) => (i < inRamp ? Math.sqrt((2 * rampMs * i) / perMs) : rampMs + (i - inRamp) / perMs);
}
