/**
 * Shared helpers of the Firecracker tests: temp directories with stand-in kernel/rootfs files and a
 * tiny function bundle, a raw Unix-socket HTTP exchange (to assert on bytes), the request trace
 * reader, an agent request over a machine's vsock, and the leak check (processes whose working
 * directory is inside a test's temp root: the fake and its agent both run there).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';
import { AGENT_PORT, type Machine } from '../../platform/vmm/port.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The fake, spawned exactly like the real binary. */
export const FAKE_BINARY = path.join(repoRoot, 'test/fakes/firecracker/firecracker');
export const AGENT_BUILT = existsSync(path.join(repoRoot, 'dist/agent.mjs'));
export const AGENT_FIX = 'needs dist/agent.mjs: run npm run build';

export interface TestAssets {
  root: string;
  kernel: string;
  rootfs: string;
  bundle: string;
  cleanup(): void;
}

/** A 64 MiB, 1 vCPU VM without network in `<root>/ws/<id>`, optionally loading `bundle`. */
export const bootSpec = (root: string, id: string, bundle?: string) => ({
  id,
  workspace: path.join(root, 'ws', id),
  memoryMiB: 64,
  vcpus: 1,
  env: {},
  network: false,
  labels: {},
  bundle,
});

/** A temp root (short path: Unix socket addresses are limited to 107 bytes) with fake assets. */
export function makeAssets(prefix = 'fct-'): TestAssets {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix));
  const kernel = path.join(root, 'vmlinux');
  const rootfs = path.join(root, 'rootfs.ext4');
  const bundle = path.join(root, 'hello.mjs');
  writeFileSync(kernel, 'not a kernel: the fake only opens it');
  writeFileSync(rootfs, 'ext4 stand-in');
  truncateSync(rootfs, 16 * 1024 * 1024);
  writeFileSync(bundle, 'let n = 0;\nexport default { fetch(req) { n++; return new Response(`hello ${new URL(req.url).pathname} ${n}`); } };\n');
  return { root, kernel, rootfs, bundle, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/**
 * Leaves a stale Unix socket at `socketPath`, as a crashed VMM does: a process binds it and dies
 * by SIGKILL, so nothing unlinks it (closing a listening server in-process would remove it).
 */
export function staleSocket(socketPath: string): void {
  const bind = `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', bind], { stdio: 'ignore' });
  if (!statSync(socketPath).isSocket()) throw new Error(`no stale socket at ${socketPath}`);
}

/**
 * Sends raw bytes on a fresh connection and collects what comes back until `until` matches or
 * close. An array is sent as separate writes 50 ms apart (a request split across writes).
 */
export function rawExchange(socketPath: string, bytes: string | Buffer | string[], until?: (text: string) => boolean, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, timeoutMs);
    s.setEncoding('latin1');
    s.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    s.on('data', (d) => {
      out += d;
      if (until?.(out)) {
        clearTimeout(timer);
        s.destroy();
        resolve(out);
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('connect', async () => {
      const parts = Array.isArray(bytes) ? bytes : [bytes];
      for (const [i, part] of parts.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, 50));
        if (!s.destroyed) s.write(part);
      }
    });
  });
}

/** A predicate: `n` complete responses have arrived (heads plus declared bodies). */
export function responses(n: number): (text: string) => boolean {
  return (text) => splitResponses(text).length >= n;
}

/** Splits a byte stream of HTTP responses framed by Content-Length (or none). */
export function splitResponses(text: string): string[] {
  const out: string[] = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) return out;
    const head = rest.slice(0, end);
    const m = /content-length: (\d+)/i.exec(head);
    const len = m ? Number(m[1]) : 0;
    if (rest.length < end + 4 + len) return out;
    out.push(rest.slice(0, end + 4 + len));
    rest = rest.slice(end + 4 + len);
  }
}

export function request(method: string, p: string, body?: string, extra = ''): string {
  const len = body === undefined ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  return `${method} ${p} HTTP/1.1\r\nHost: localhost\r\n${len}${extra}\r\n${body ?? ''}`;
}

export function readTrace(file: string): { method: string; path: string; body: unknown }[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** An HTTP request to the agent in `machine` through its vsock handshake. */
export async function agentCall(machine: Machine, method: string, p: string, body?: unknown): Promise<{ status: number; text: string }> {
  const client = new Client('http://agent', {
    connect: (_o, cb) => {
      machine.connect(AGENT_PORT, { timeoutMs: 10_000 }).then(
        (s) => cb(null, s),
        (e) => cb(e, null),
      );
    },
  });
  try {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await client.request({ method: method as 'GET', path: p, body: payload, headers: payload ? { 'content-type': 'application/json' } : {} });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await client.destroy();
  }
}

/** Pids of live processes whose working directory is inside `root`, except this one. */
export function processesUnder(root: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Zombies are gone already, only not reaped by their parent yet.
      if (/\) Z /.test(stat)) continue;
      if (cwd === root || cwd.startsWith(root + '/')) out.push(Number(entry));
    } catch {
      // Exited meanwhile, or not ours to read.
    }
  }
  return out;
}

/** Waits (bounded) for processes under `root` to disappear; returns those still alive. */
export async function settleProcesses(root: string, ms = 10_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = processesUnder(root);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = processesUnder(root);
  }
  return left;
}
