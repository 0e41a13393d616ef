/**
 * The contenders, started the way a user would start them: the benchmark handler bundled by
 * esbuild for @hono/node-server (`node bundle.mjs`) and for workerd (a capnp config binding
 * 127.0.0.1 on a free port), Ignition's agent alone on its Unix socket (to split the daemon's hop
 * from the agent's), and the Ignition daemon with functions deployed through its REST API.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { build } from 'esbuild';
import { connectVsock } from '../../../platform/guest/vsock.ts';
import { bundleFunction, type Bundle } from '../../../platform/functions/bundle.ts';
import { startTestDaemon, type TestDaemon, ROOT } from '../../../test/support/daemon.ts';
import { firstResponse, freePort, stopChild, track, waitForOutput } from './procs.ts';
import type { Target } from './load.ts';
import type { ChildProcess } from 'node:child_process';
import { defaults } from '../../../platform/config/schema.ts';

export { ROOT };
export const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
export const HELLO_DIR = path.join(FIXTURES, 'hello');
export const WORKERD = path.join(ROOT, 'node_modules', '.bin', 'workerd');
export const AGENT = path.join(ROOT, 'dist', 'agent.mjs');

export interface Running {
  origin: string;
  target: Target;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Bundles fixtures/serve-node.ts (handler + @hono/node-server) into `<dir>/node-bundle.mjs`. */
export async function buildNodeBundle(dir: string): Promise<string> {
  const out = path.join(dir, 'node-bundle.mjs');
  await build({ entryPoints: [path.join(FIXTURES, 'serve-node.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: out, logLevel: 'silent' });
  return out;
}

/** Writes the handler as a workerd ES module plus a capnp config serving it on `port`. */
export async function writeWorkerdConfig(dir: string, port: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  await build({ entryPoints: [path.join(HELLO_DIR, 'index.ts')], bundle: true, platform: 'neutral', format: 'esm', outfile: path.join(dir, 'worker.mjs'), logLevel: 'silent' });
  const config = path.join(dir, 'config.capnp');
  writeFileSync(
    config,
    [
      'using Workerd = import "/workerd/workerd.capnp";',
      'const config :Workerd.Config = (',
      '  services = [ (name = "main", worker = .hello) ],',
      `  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],`,
      ');',
      'const hello :Workerd.Worker = (',
      '  modules = [ (name = "worker", esModule = embed "worker.mjs") ],',
      '  compatibilityDate = "2025-01-01",',
      ');',
      '',
    ].join('\n'),
  );
  return config;
}

function running(origin: string, child: ChildProcess): Running {
  return { origin, child, target: { origin, path: '/' }, stop: () => stopChild(child) };
}

/** `node bundle.mjs` on a free port; resolves at its first 200 with the spawn-to-answer time. */
export async function startNodeServer(bundle: string): Promise<Running & { startMs: number }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = track(process.execPath, [bundle], { env: { ...process.env, PORT: String(port) } });
  const origin = `http://127.0.0.1:${port}`;
  const t1 = await firstResponse(origin, '/', 30_000, child);
  return { ...running(origin, child), startMs: t1 - t0 };
}

/** `workerd serve config.capnp`; resolves at its first 200 with the spawn-to-answer time. */
export async function startWorkerd(dir: string): Promise<Running & { startMs: number }> {
  const port = await freePort();
  const config = await writeWorkerdConfig(dir, port);
  const t0 = performance.now();
  const child = track(WORKERD, ['serve', config], { cwd: dir });
  const origin = `http://127.0.0.1:${port}`;
  const t1 = await firstResponse(origin, '/', 30_000, child);
  return { ...running(origin, child), startMs: t1 - t0 };
}

/** Ignition's agent on its own (`node dist/agent.mjs --uds`), the bundle loaded at start. */
export async function startAgent(dir: string, bundle: Bundle): Promise<Running & { socket: string }> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'function.mjs'), bundle.code);
  writeFileSync(path.join(dir, 'function.mjs.map'), bundle.map);
  const uds = path.join(dir, 'v.sock');
  const child = track(process.execPath, [AGENT, '--uds', uds], { env: { ...process.env, IGNITION_BUNDLE: path.join(dir, 'function.mjs'), IGNITION_WORK_DIR: dir }, cwd: dir });
  await waitForOutput(child, /ignition-agent ready/);
  const connect = ((_opts: unknown, cb: (err: Error | null, socket: import('node:net').Socket | null) => void) => {
    connectVsock(uds, 52, { timeoutMs: 5000 }).then((s) => cb(null, s), (e: Error) => cb(e, null));
  }) as unknown as Target['connect'];
  const origin = 'http://agent';
  return { origin, child, socket: uds, target: { origin, path: '/v1/invoke/', connect }, stop: () => stopChild(child) };
}

/**
 * fixtures/bare-forwarder.ts in front of an agent's socket: the floor of a path with a proxy
 * process in it (see that file). Bundled with esbuild into `<dir>/forwarder.mjs`.
 */
export async function startForwarder(dir: string, agentSocket: string): Promise<Running> {
  mkdirSync(dir, { recursive: true });
  const out = path.join(dir, 'forwarder.mjs');
  await build({ entryPoints: [path.join(FIXTURES, 'bare-forwarder.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: out, logLevel: 'silent' });
  const child = track(process.execPath, [out, '0', agentSocket]);
  const port = Number((await waitForOutput(child, /listening (\d+)/))[1]);
  const origin = `http://127.0.0.1:${port}`;
  return { origin, child, target: { origin, path: '/fn/bench/' }, stop: () => stopChild(child) };
}

export async function bundleHello(): Promise<Bundle> {
  return bundleFunction(HELLO_DIR);
}

/** An Ignition daemon on a temp data dir (the e2e helper), quiet logs. */
export function startDaemon(env: Record<string, string> = {}): Promise<TestDaemon> {
  return startTestDaemon({ env: { IGNITION_LOG_LEVEL: 'warn', ...env } });
}

export interface DeployAnswer {
  function: string;
  version: { id: string; seq: number };
  created: boolean;
  timings?: Array<{ step: string; ms: number }>;
}

/** What the REST helpers need of a daemon: its URL and the admin token's header for /v1. */
export type Api = Pick<TestDaemon, 'url' | 'auth'>;

/** Deploys `code` as `name` through the REST API (what `ignition deploy` does after bundling). */
export async function deployCode(d: Api, name: string, code: string, map: string, settings: Record<string, unknown>): Promise<DeployAnswer> {
  const res = await request(`${d.url}/v1/functions/${name}/deployments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...d.auth() },
    body: JSON.stringify({ code, map, settings }),
    headersTimeout: 300_000,
    bodyTimeout: 300_000,
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`deploy of ${name} answered ${res.statusCode}: ${text}`);
  return JSON.parse(text) as DeployAnswer;
}

export interface InstanceInfo {
  id: string;
  pid: number | null;
  state: string;
  served: number;
  timings?: Array<{ step: string; ms: number }>;
}

export async function instances(d: Api, name: string): Promise<InstanceInfo[]> {
  const res = await request(`${d.url}/v1/functions/${name}/instances`, { headers: d.auth() });
  if (res.statusCode !== 200) throw new Error(`instances of ${name} answered ${res.statusCode}: ${await res.body.text()}`);
  const body = (await res.body.json()) as { instances: InstanceInfo[] };
  return body.instances;
}

/** Spare machines the daemon has ready now, by kind (its /metrics gauge). */
export async function spares(d: Api): Promise<Record<string, number>> {
  const res = await request(`${d.url}/metrics`, { headers: d.auth() });
  const text = await res.body.text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ignition_vmm_spares\{kind="([a-z]+)"\} (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

/**
 * Waits (up to `maxMs`) until the daemon has `count` process-driver spares ready (by default the
 * configuration's default, which the benchmarks' daemons run with); false if not.
 */
export async function sparesReady(d: Api, count = defaults.processSpares, maxMs = 20_000): Promise<boolean> {
  const until = performance.now() + maxMs;
  while (performance.now() < until) {
    if (((await spares(d)).process ?? 0) >= count) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** The daemon's invoke URL of a function, as a load-generator target. */
export function fnTarget(url: string, name: string): Target {
  return { origin: url, path: `/fn/${name}/` };
}

/** The daemon's /metrics text (Prometheus). */
export async function metricsText(d: Api): Promise<string> {
  const res = await request(`${d.url}/metrics`, { headers: d.auth() });
  return res.body.text();
}

/** A histogram's observations: their count and sum, and the cumulative count at each bucket bound (s). */
export interface HistogramReading {
  count: number;
  sum: number;
  buckets: Array<{ le: number; count: number }>;
}

/**
 * The series of histogram `name` in a /metrics text whose labels include every one of `match`,
 * summed. Pure.
 */
export function readHistogram(text: string, name: string, match: Record<string, string> = {}): HistogramReading {
  const out: HistogramReading = { count: 0, sum: 0, buckets: [] };
  const les = new Map<number, number>();
  const re = new RegExp(`^${name}_(bucket|sum|count)(?:\\{([^}]*)\\})? (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(match).some(([k, v]) => labels[k] !== v)) continue;
    const v = Number(m[3]);
    if (m[1] === 'sum') out.sum += v;
    else if (m[1] === 'count') out.count += v;
    else {
      const le = labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(labels.le);
      les.set(le, (les.get(le) ?? 0) + v);
    }
  }
  out.buckets = [...les].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  return out;
}

/** The observations between two readings of one histogram. Pure. */
export function histogramDelta(before: HistogramReading, after: HistogramReading): HistogramReading {
  const at = (r: HistogramReading, le: number) => r.buckets.find((b) => b.le === le)?.count ?? 0;
  return { count: after.count - before.count, sum: after.sum - before.sum, buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - at(before, b.le) })) };
}

/** The bucket bound (s) at or below which `q` of the observations fall (Infinity past the last; NaN when none). Pure. */
export function histogramQuantile(r: HistogramReading, q: number): number {
  if (r.count === 0) return Number.NaN;
  return r.buckets.find((b) => b.count >= q * r.count)?.le ?? Number.POSITIVE_INFINITY;
}
