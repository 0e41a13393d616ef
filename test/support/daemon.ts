/**
 * A real daemon for end-to-end tests: `node dist/ignition.mjs daemon` as a child process on a
 * temporary data directory and an ephemeral port (IGNITION_LISTEN=127.0.0.1:0), plus a runner for
 * the real CLI pointed at it through IGNITION_HOST. Requires `npm run build` (npm test does it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(ROOT, 'dist', 'ignition.mjs');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'functions');

export interface TestDaemon {
  url: string;
  dataDir: string;
  child: ChildProcess;
  output(): string;
  /** `authorization: Bearer <admin token>` for direct requests to /v1 (the CLI finds it itself). */
  auth(): Record<string, string>;
  cli(args: string[], opts?: { input?: string; cwd?: string; env?: Record<string, string> }): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * A test daemon's environment: its data directory, any free port on the loopback, quiet logs, and
 * IGNITION_NETWORK=off, so it never sets up host networking on this machine unless `env` says
 * otherwise, which only a daemon inside a namespace of the test's own may (test/network).
 */
export function daemonEnv(dataDir: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, IGNITION_DATA_DIR: dataDir, IGNITION_LISTEN: '127.0.0.1:0', IGNITION_LOG_LEVEL: 'warn', IGNITION_NETWORK: 'off', ...env };
}

export async function startTestDaemon(options: { env?: Record<string, string>; dataDir?: string; args?: string[] } = {}): Promise<TestDaemon> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'ignition-e2e-'));
  const child = spawn(process.execPath, [CLI, 'daemon', ...(options.args ?? [])], {
    cwd: ROOT,
    env: daemonEnv(dataDir, options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const started = daemonOutput(child);
  const url = await started.url;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    url,
    dataDir,
    child,
    output: started.output,
    auth: () => ({ authorization: `Bearer ${readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim()}` }),
    // IGNITION_DATA_DIR lets the CLI find the daemon's admin token, as it would on the same host.
    cli: (args, opts = {}) => runCli(args, { ...opts, env: { IGNITION_HOST: url, IGNITION_DATA_DIR: dataDir, ...opts.env } }),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

/**
 * Collects a daemon process's output (both streams) and resolves `url` with the address it prints
 * once it listens ("Ignition daemon on http://…", platform/cli/commands/daemon.ts), or rejects
 * with the output when it exits first or takes longer than 30 s.
 */
export function daemonOutput(child: ChildProcess): { url: Promise<string>; output(): string } {
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start within 30 s:\n${out}`)), 30_000);
    const onData = () => {
      const m = /Ignition daemon on (http:\/\/[^\s"]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code} before listening:\n${out}`));
    });
  });
  return { url, output: () => out };
}

export function runCli(
  args: string[],
  opts: { input?: string; cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end(opts.input ?? '');
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Deploys a fixture or example directory through the real CLI; throws with its output on failure. */
/**
 * A daemon shared by a test file's tests: started in the suite's before hook with the named
 * fixtures (folders of FIXTURES) deployed, handed to `use`, and stopped in its after hook.
 */
export function sharedDaemon(
  suite: { before(fn: () => Promise<void>): void; after(fn: () => Promise<void>): void },
  fixtures: string[],
  use: (d: TestDaemon) => void,
): void {
  let daemon: TestDaemon | undefined;
  suite.before(async () => {
    daemon = await startTestDaemon();
    for (const name of fixtures) await deploy(daemon, path.join(FIXTURES, name));
    use(daemon);
  });
  suite.after(async () => {
    await daemon?.stop();
  });
}

export async function deploy(
  d: TestDaemon,
  dir: string,
  extra: string[] = [],
): Promise<{ function: string; version: { id: string; seq: number }; created: boolean; url: string }> {
  const r = await d.cli(['deploy', dir, '--json', ...extra]);
  if (r.code !== 0) throw new Error(`deploy ${dir} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}
