/**
 * Test support for the OCI tests: a real `docker-registry` (CNCF distribution v2) started on
 * 127.0.0.1 with a random port and its own config and storage in a temp dir, stopped by PID; and
 * a small HTTP proxy in front of it that can inject faults (a status on the Nth matching request,
 * a corrupted body) and require Basic or Bearer auth with a token service of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningRegistry {
  host: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export async function startDistribution(): Promise<RunningRegistry> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-distribution-'));
  const port = await freePort();
  const config = path.join(dir, 'config.yml');
  writeFileSync(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      '',
    ].join('\n'),
  );
  const proc: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c) => (stderr += c));
  let exited = false;
  proc.once('exit', () => (exited = true));
  // Ready when GET /v2/ answers, bounded by a deadline, abandoned if the process dies.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited at start: ${stderr}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`docker-registry did not become ready: ${stderr}`);
    }
    await sleep(50);
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      if (!exited && proc.pid) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Fault {
  method?: string;
  /** Matched against the request path. */
  path: RegExp;
  /** Fire on the Nth matching request (1-based); every later one passes. */
  nth?: number;
  status?: number;
  /** Flip a byte in the response body instead of answering with `status`. */
  corruptBody?: boolean;
}

export interface ProxyOptions {
  auth?: { kind: 'basic' | 'bearer'; username: string; password: string };
}

export interface FaultProxy {
  host: string;
  faults: Fault[];
  /** Every request that went through: method and path. */
  log: Array<{ method: string; path: string; status: number }>;
  tokensIssued: number;
  close(): Promise<void>;
}

export async function startProxy(upstreamPort: number, options: ProxyOptions = {}): Promise<FaultProxy> {
  const token = 'tok-' + Math.random().toString(36).slice(2);
  const state: FaultProxy = { host: '', faults: [], log: [], tokensIssued: 0, close: async () => {} };
  const counts = new Map<Fault, number>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const respond = (status: number, headers: Record<string, string> = {}, body = '') => {
      state.log.push({ method: req.method ?? '', path: url, status });
      res.writeHead(status, headers).end(body);
      req.resume();
    };
    if (url.startsWith('/token')) {
      const expected = `Basic ${Buffer.from(`${options.auth?.username}:${options.auth?.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return respond(401, {}, '{"errors":[{"code":"UNAUTHORIZED"}]}');
      state.tokensIssued++;
      return respond(200, { 'content-type': 'application/json' }, JSON.stringify({ token }));
    }
    if (options.auth && url.startsWith('/v2/')) {
      const ok =
        options.auth.kind === 'bearer'
          ? req.headers.authorization === `Bearer ${token}`
          : req.headers.authorization === `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;
      if (!ok) {
        const challenge = options.auth.kind === 'bearer' ? `Bearer realm="http://${state.host}/token",service="test-registry"` : 'Basic realm="test-registry"';
        return respond(
          401,
          { 'www-authenticate': challenge, 'content-type': 'application/json' },
          '{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
        );
      }
    }
    let corrupt = false;
    for (const f of state.faults) {
      if ((f.method && f.method !== req.method) || !f.path.test(url.split('?')[0])) continue;
      const n = (counts.get(f) ?? 0) + 1;
      counts.set(f, n);
      if (n !== (f.nth ?? 1)) continue;
      if (f.corruptBody) corrupt = true;
      else
        return respond(
          f.status ?? 500,
          { 'content-type': 'application/json' },
          `{"errors":[{"code":"INJECTED","message":"fault injected by the test proxy"}]}`,
        );
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = httpRequest({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: url, headers }, (ur) => {
      state.log.push({ method: req.method ?? '', path: url, status: ur.statusCode ?? 0 });
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      let flipped = false;
      ur.on('data', (c: Buffer) => {
        if (corrupt && !flipped && c.length > 0) {
          c = Buffer.from(c);
          c[0] ^= 0xff;
          flipped = true;
        }
        res.write(c);
      });
      ur.on('end', () => res.end());
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}
