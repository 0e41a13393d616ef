/**
 * Measurements for the benchmark suite (docs/BENCHMARKS.md): how big the base image is, and how
 * long the agent takes from spawn to its ready line when run as a plain process
 * (`node dist/agent.mjs --uds <tmp>/v.sock`). The emulated boot time comes from ./qemu.ts
 * (`bootUnderQemu(...).readyMs`); the KVM cold boot from the Firecracker live bench.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ImageSize {
  /** The file's apparent size (the filesystem size). */
  apparentBytes: number;
  /** Blocks actually allocated on the host (the image is sparse). */
  allocatedBytes: number;
}

/** Size of an image file on disk. */
export function measureImageSize(image: string): ImageSize {
  const st = statSync(image);
  return { apparentBytes: st.size, allocatedBytes: st.blocks * 512 };
}

export interface AgentStartupOptions {
  /** Default: dist/agent.mjs relative to the working directory. */
  agentBundle?: string;
  nodeBinary?: string;
  /** How many cold starts to time (default 5). */
  runs?: number;
  /** Per run (default 30 s). */
  timeoutMs?: number;
  readyText?: string;
}

export interface AgentStartup {
  samplesMs: number[];
  minMs: number;
  medianMs: number;
  maxMs: number;
}

/** Spawns the agent once and resolves with ms from spawn to the ready line; always stops it. */
function startOnce(node: string, bundle: string, readyText: string, timeoutMs: number): Promise<number> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ignition-agent-bench-'));
  const started = performance.now();
  const child = spawn(node, [bundle, '--uds', path.join(dir, 'v.sock')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => done(new Error(`agent printed no "${readyText}" within ${timeoutMs} ms: ${err.slice(-500)}`)), timeoutMs);
    const done = (e: Error | null, ms = 0) => {
      clearTimeout(timer);
      child.stdout.removeAllListeners('data');
      child.removeAllListeners('exit');
      const cleanup = () => rmSync(dir, { recursive: true, force: true });
      if (child.exitCode === null && child.signalCode === null) {
        child.once('exit', cleanup);
        child.kill('SIGTERM');
      } else cleanup();
      if (e) reject(e);
      else resolve(ms);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes(readyText)) done(null, performance.now() - started);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (err += chunk));
    child.on('error', (e) => done(e));
    child.on('exit', (code) => done(new Error(`agent exited (${code}) before ready: ${err.slice(-500)}`)));
  });
}

/** Times the agent's start-up to ready, `runs` times in sequence. */
export async function measureAgentStartup(options: AgentStartupOptions = {}): Promise<AgentStartup> {
  const node = options.nodeBinary ?? process.execPath;
  const bundle = options.agentBundle ?? path.resolve('dist', 'agent.mjs');
  const runs = options.runs ?? 5;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    samples.push(Math.round(await startOnce(node, bundle, options.readyText ?? 'ignition-agent ready', options.timeoutMs ?? 30_000)));
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { samplesMs: samples, minMs: sorted[0], medianMs: sorted[Math.floor(sorted.length / 2)], maxMs: sorted[sorted.length - 1] };
}
