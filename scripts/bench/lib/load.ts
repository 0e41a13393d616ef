/**
 * The load generator every invoke benchmark uses, so their numbers compare: an undici pool of N
 * keep-alive connections, each running requests back to back (closed loop) for a fixed duration.
 * Latency is taken per request with performance.now() (sub-millisecond, unlike autocannon's
 * whole-millisecond histogram, which cannot show a 0.1 ms difference). A warm-up period runs
 * first and is discarded. An optional `connect` lets the same generator reach a socket that needs
 * a handshake first (the agent's vsock-style Unix socket).
 */
import { Client, Pool, type buildConnector } from 'undici';
import { summarize, type Summary } from './stats.ts';

export interface Target {
  /** http://host:port, or any origin when `connect` supplies the socket. */
  origin: string;
  path: string;
  connect?: buildConnector.connector;
}

export interface LoadResult {
  connections: number;
  seconds: number;
  requests: number;
  errors: number;
  rps: number;
  latency: Summary;
  /** Every latency sample (ms), kept so rounds can be pooled. */
  samples: number[];
}

async function drive(pool: Pool | Client, target: Target, connections: number, untilMs: number, record: boolean, out: { lat: number[]; errors: number; done: number }) {
  const worker = async () => {
    while (performance.now() < untilMs) {
      const t = performance.now();
      try {
        const res = await pool.request({ method: 'GET', path: target.path });
        await res.body.dump();
        if (res.statusCode !== 200) out.errors++;
        else if (record) {
          out.lat.push(performance.now() - t);
          out.done++;
        }
      } catch {
        out.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
}

/** Closed-loop load: `connections` workers for `durationMs` after `warmupMs` of discarded load. */
export async function closedLoop(target: Target, opts: { connections: number; durationMs: number; warmupMs: number }): Promise<LoadResult> {
  const pool = new Pool(target.origin, { connections: opts.connections, pipelining: 1, connect: target.connect, keepAliveTimeout: 60_000 });
  try {
    const warm = { lat: [] as number[], errors: 0, done: 0 };
    await drive(pool, target, opts.connections, performance.now() + opts.warmupMs, false, warm);
    const out = { lat: [] as number[], errors: 0, done: 0 };
    const start = performance.now();
    await drive(pool, target, opts.connections, start + opts.durationMs, true, out);
    const seconds = (performance.now() - start) / 1000;
    return { connections: opts.connections, seconds, requests: out.done, errors: out.errors, rps: out.done / seconds, latency: summarize(out.lat), samples: out.lat };
  } finally {
    await pool.destroy();
  }
}

/** `count` sequential requests on one keep-alive connection after `warmup` discarded ones. */
export async function sequential(target: Target, count: number, warmup: number): Promise<LoadResult> {
  const client = new Client(target.origin, { connect: target.connect, keepAliveTimeout: 60_000 });
  try {
    const lat: number[] = [];
    let errors = 0;
    const start = { t: 0 };
    for (let i = 0; i < warmup + count; i++) {
      if (i === warmup) start.t = performance.now();
      const t = performance.now();
      const res = await client.request({ method: 'GET', path: target.path });
      await res.body.dump();
      if (res.statusCode !== 200) errors++;
      else if (i >= warmup) lat.push(performance.now() - t);
    }
    const seconds = (performance.now() - start.t) / 1000;
    return { connections: 1, seconds, requests: lat.length, errors, rps: lat.length / seconds, latency: summarize(lat), samples: lat };
  } finally {
    await client.destroy();
  }
}
