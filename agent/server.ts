/**
 * The agent's HTTP server: the control endpoints of agent/protocol.ts plus the invoke route that
 * hands requests to the function runtime, all in one Node process (one hop less than a separate
 * runtime process on every invocation).
 */
import http from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { addGuestEntropy, setGuestClock } from './vsock/index.ts';
import os from 'node:os';
import path from 'node:path';
import {
  AgentPaths,
  AGENT_PROTOCOL_VERSION,
  type AgentProblem,
  type HealthResponse,
  type LoadFunctionRequest,
  type LoadFunctionResponse,
  type NetworkResponse,
  type RestoreRequest,
  type RestoreResponse,
} from './protocol.ts';
import { runExec } from './exec.ts';
import { networkBatch, parseNetworkRequest, resolvConfOf } from './network.ts';
import { agentLog } from '../runtime/console.ts';
import { FunctionLoadError, loadFunction } from '../runtime/load.ts';
import { createInvokeListener, type InvokeState } from '../runtime/invoke.ts';

/** The guest's resolver configuration; only ever written inside a microVM (`options.guest`). */
const GUEST_RESOLV_CONF = '/etc/resolv.conf';

export interface AgentOptions {
  /** True inside a microVM: the agent may set the clock, add entropy and re-address the network. */
  guest: boolean;
  /** Where uploaded bundles are written. */
  workDir: string;
  onShutdown: () => void;
}

const MAX_CONTROL_BODY = 64 * 1024 * 1024;

export function createAgentServer(options: AgentOptions) {
  const started = Date.now();
  const state: InvokeState & { loadMs?: number; warmupMs?: number; restores: number; expectFunction: boolean } = {
    fn: undefined,
    env: {},
    pending: new Set(),
    restores: 0,
    expectFunction: false,
  };
  const invoke = createInvokeListener(state, AgentPaths.invokePrefix);
  let uploads = 0;

  async function load(req: LoadFunctionRequest): Promise<LoadFunctionResponse> {
    state.expectFunction = true;
    let file = req.path;
    if (!file) {
      if (typeof req.code !== 'string') throw problem(400, 'agent_bad_request', 'PUT /v1/function needs "code" or "path"');
      // A fresh directory per upload: ESM caches modules by URL, so reusing a path would hand a
      // second load the first module (or its failure).
      const dir = path.join(options.workDir, String(++uploads));
      mkdirSync(dir, { recursive: true });
      const name = path.basename(req.filename ?? 'function.mjs');
      file = path.join(dir, name);
      const linked = !req.map || /\/\/# sourceMappingURL=/.test(req.code);
      writeFileSync(file, linked ? req.code : `${req.code}\n//# sourceMappingURL=${name}.map\n`);
      if (req.map) writeFileSync(`${file}.map`, req.map);
    }
    if (req.env) state.env = { ...req.env };
    const t0 = performance.now();
    try {
      state.fn = await loadFunction(file);
    } catch (err) {
      if (err instanceof FunctionLoadError) throw problem(422, err.code, err.message, 'load');
      throw err;
    }
    const t1 = performance.now();
    if (req.warmup !== false && state.fn.warmup) {
      try {
        await state.fn.warmup();
      } catch (err) {
        state.fn = undefined;
        const e = err as Error;
        throw problem(422, 'function_warmup_failed', `warmup() threw: ${e?.stack ?? String(err)}`, 'warmup');
      }
    }
    state.loadMs = t1 - t0;
    state.warmupMs = performance.now() - t1;
    agentLog('info', `function loaded from ${file} in ${state.loadMs.toFixed(1)} ms`);
    return { ready: true, path: file, loadMs: state.loadMs, warmupMs: state.warmupMs };
  }

  async function restore(req: RestoreRequest): Promise<RestoreResponse> {
    state.restores++;
    let clockSet = false;
    let entropyAdded = 0;
    if (options.guest) {
      // A restored guest wakes with the snapshot's wall clock and RNG state: take the host's
      // clock, and credit fresh host entropy with a forced kernel reseed (the addon's ioctls).
      try {
        setGuestClock(req.timeMs);
        clockSet = true;
      } catch (err) {
        agentLog('warn', `cannot set the guest clock: ${(err as Error).message}`);
      }
      if (req.entropy) {
        try {
          entropyAdded = addGuestEntropy(Buffer.from(req.entropy, 'base64'));
        } catch (err) {
          agentLog('warn', `cannot add entropy: ${(err as Error).message}`);
        }
      }
    }
    if (req.env) state.env = { ...req.env };
    let onRestoreMs: number | null = null;
    if (state.fn?.onRestore) {
      const t = performance.now();
      try {
        await state.fn.onRestore();
      } catch (err) {
        throw problem(500, 'function_on_restore_failed', `onRestore() threw: ${(err as Error)?.message ?? String(err)}`, 'restore');
      }
      onRestoreMs = performance.now() - t;
    }
    return { clockSet, entropyAdded, onRestoreMs, restores: state.restores };
  }

  function network(body: unknown): NetworkResponse {
    const req = parseNetworkRequest(body);
    if (typeof req === 'string') throw problem(400, 'agent_bad_request', `POST ${AgentPaths.network}: ${req}`);
    // Outside a microVM (process driver, emulators) there is no guest network to change.
    if (!options.guest) throw problem(501, 'agent_unsupported', 'network re-addressing is only available inside a microVM');
    const t0 = performance.now();
    const applied = networkBatch(req);
    const r = spawnSync('ip', ['-batch', '-'], { input: applied.join('\n') + '\n', encoding: 'utf8' });
    if (r.status !== 0) {
      throw problem(500, 'agent_network_failed', `ip -batch failed on ${req.iface}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}`);
    }
    const resolv = resolvConfOf(req);
    if (resolv !== null) {
      try {
        writeFileSync(GUEST_RESOLV_CONF, resolv);
      } catch (err) {
        throw problem(500, 'agent_network_failed', `cannot write ${GUEST_RESOLV_CONF}: ${(err as Error).message}`);
      }
      applied.push(`write ${GUEST_RESOLV_CONF}: ${req.dns!.join(', ')}`);
    }
    return { ok: true, applied, ms: performance.now() - t0 };
  }

  const health = (): HealthResponse => ({
    status: 'ok',
    protocol: AGENT_PROTOCOL_VERSION,
    ready: !state.expectFunction || state.fn !== undefined,
    pid: process.pid,
    uptimeMs: Date.now() - started,
    function: state.fn ? { loaded: true, path: state.fn.path, loadMs: state.loadMs, warmupMs: state.warmupMs } : { loaded: false },
    restores: state.restores,
  });

  const server = http.createServer({ keepAlive: true }, (req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith(AgentPaths.invokePrefix + '/') || url === AgentPaths.invokePrefix) return invoke(req, res);
    const route = `${req.method} ${url.split('?')[0]}`;
    const json = async <T>(fn: (body: any) => T | Promise<T>) => {
      try {
        const body = req.method === 'GET' ? {} : await readJson(req);
        send(res, 200, await fn(body));
      } catch (err) {
        sendProblem(res, err);
      }
    };
    switch (route) {
      case `GET ${AgentPaths.health}`:
        return send(res, 200, health());
      case `PUT ${AgentPaths.function}`:
        return void json(load);
      case `POST ${AgentPaths.exec}`:
        return void readJson(req).then(
          (body) => runExec(body, res),
          (err) => sendProblem(res, err),
        );
      case `GET ${AgentPaths.env}`:
        return send(res, 200, { keys: Object.keys(state.env) });
      case `PUT ${AgentPaths.env}`:
        return void json((b: { env: Record<string, string> }) => ((state.env = { ...b.env }), { keys: Object.keys(state.env) }));
      case `POST ${AgentPaths.restore}`:
        return void json(restore);
      case `POST ${AgentPaths.network}`:
        return void json(network);
      case `POST ${AgentPaths.shutdown}`: {
        send(res, 200, { ok: true });
        // Let waitUntil work finish (bounded), then leave; init powers the VM off when we exit.
        const deadline = new Promise((r) => setTimeout(r, 5000).unref());
        void Promise.race([Promise.allSettled([...state.pending]), deadline]).then(() => options.onShutdown());
        return;
      }
      default:
        return sendProblem(res, problem(404, 'agent_not_found', `no agent endpoint ${route}`));
    }
  });
  server.keepAliveTimeout = 60_000;
  return { server, state, load };
}

class AgentError extends Error {
  constructor(readonly body: AgentProblem) {
    super(body.detail);
  }
}

function problem(status: number, code: string, detail: string, phase?: string): AgentError {
  return new AgentError({ type: `urn:ignition:error:${code}`, title: 'Agent error', status, code, detail, ...(phase ? { phase } : {}) });
}

function send(res: http.ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendProblem(res: http.ServerResponse, err: unknown) {
  const body = err instanceof AgentError ? err.body : problem(500, 'agent_internal', (err as Error)?.message ?? String(err)).body;
  if (!(err instanceof AgentError)) agentLog('error', `agent error: ${(err as Error)?.stack ?? String(err)}`);
  const text = JSON.stringify(body);
  res.writeHead(body.status, { 'content-type': 'application/problem+json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req: http.IncomingMessage): Promise<any> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_CONTROL_BODY) {
        reject(problem(413, 'agent_body_too_large', `control request body over ${MAX_CONTROL_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size === 0) return resolve({});
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(problem(400, 'agent_bad_request', 'the request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

export const defaultWorkDir = () => path.join(os.tmpdir(), `ignition-fn-${process.pid}`);
