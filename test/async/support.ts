/**
 * Helpers for the async tests: a temporary database file, a real HTTP server standing in for a
 * function (its handler is scripted per test and every request is recorded), an `invoke`
 * dependency that reaches it over loopback exactly as the daemon's adapter reaches an instance, and
 * a condition wait (bounded, never a timed assertion).
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { FunctionCrashed } from '../../platform/functions/errors.ts';
import type { InvokeFn, InvokeJob } from '../../platform/async/worker.ts';

export function tempDir(prefix = 'ignition-async-'): { dir: string; file: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, file: path.join(dir, 'ignition.db'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Polls `check` until it returns a truthy value; fails naming `what` after a generous bound. */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 30_000): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface Seen {
  invocationId: string;
  attempt: string | undefined;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export type Handler = (req: Seen, res: http.ServerResponse) => void;

/** A real HTTP server for a "function"; `handler` may be replaced at any time. */
export async function functionServer(handler: Handler = (_req, res) => res.end('ok')) {
  const seen: Seen[] = [];
  const state = { handler };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        invocationId: String(req.headers['x-ignition-invocation-id'] ?? ''),
        attempt: req.headers['x-ignition-attempt'] as string | undefined,
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      seen.push(s);
      state.handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    set handler(h: Handler) {
      state.handler = h;
    },
    callsOf: (id: string) => seen.filter((s) => s.invocationId === id).length,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The `invoke` dependency over HTTP: what the daemon's adapter does with a real instance. */
export function httpInvoke(baseUrl: string): InvokeFn {
  return async (job: InvokeJob) => {
    let res: Response;
    try {
      res = await fetch(baseUrl + job.path, {
        method: job.method,
        headers: { ...job.headers, 'x-ignition-invocation-id': job.invocationId, 'x-ignition-function': job.fn },
        body: job.method === 'GET' || job.method === 'HEAD' ? undefined : new Uint8Array(job.body),
      });
    } catch (err) {
      throw FunctionCrashed(`the instance of ${job.fn} failed while handling the request (${(err as Error).message})`, { cause: err });
    }
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => (headers[k] = v));
    return { status: res.status, headers, body: Buffer.from(await res.arrayBuffer()) };
  };
}

/** Fast back-off so retry tests do not wait seconds (the policy itself is tested as a pure function). */
export const FAST_BACKOFF = { baseMs: 5, factor: 2, maxMs: 50, jitter: 0.2 };
