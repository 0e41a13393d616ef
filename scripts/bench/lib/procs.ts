/**
 * Processes the benchmarks start, and what they cost. Every child goes through `track()`, so
 * main.ts can stop whatever is left (by PID, its own children only) even when a benchmark throws.
 * Memory is read from /proc: RSS (resident pages, shared ones counted in every process) and PSS
 * (shared pages divided among their users, so PSS sums to what a group of processes really costs).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { Client } from 'undici';
import { sleep } from './stats.ts';

const live = new Set<ChildProcess>();

/** Spawns a child and remembers it until it exits. */
export function track(file: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the child is gone. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

/** Stops every tracked child still running (used on the way out, also after a failure). */
export async function stopAll(): Promise<number> {
  const left = [...live];
  await Promise.all(left.map((c) => stopChild(c, 3000)));
  return left.length;
}

/** A port free right now on 127.0.0.1 (for servers that cannot listen on port 0 and report it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves with the first stdout match of `re` (or rejects when the child exits or time runs out). */
export function waitForOutput(child: ChildProcess, re: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => finish(new Error(`no ${re} within ${timeoutMs} ms: ${out.slice(-500)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      out += d;
      const m = re.exec(out);
      if (m) finish(null, m);
    };
    const onExit = (code: number | null) => finish(new Error(`exited (${code}) before ${re}: ${out.slice(-1000)}`));
    const finish = (err: Error | null, m?: RegExpExecArray) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/**
 * Polls `origin + path` on fresh connections until it answers 200; resolves with the time of that
 * answer (performance.now()). Used to time "start to first response": the poll interval is 1 ms,
 * so the measurement's resolution is about that.
 */
export async function firstResponse(origin: string, path = '/', timeoutMs = 30_000, child?: ChildProcess): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${origin} exited before answering`);
    const client = new Client(origin, { connectTimeout: 1000 });
    try {
      const res = await client.request({ method: 'GET', path });
      await res.body.text();
      if (res.statusCode === 200) return performance.now();
    } catch {
      // Not listening yet.
    } finally {
      void client.destroy();
    }
    if (performance.now() > deadline) throw new Error(`${origin}${path} gave no 200 within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/** Child PIDs of `pid` (direct), from /proc/<pid>/task/<pid>/children or a /proc scan. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    const out: number[] = [];
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === pid) out.push(Number(e));
      } catch {
        // gone
      }
    }
    return out;
  }
}

/** `pid` and all its descendants. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...childrenOf(out[i]));
  return out;
}

export interface Memory {
  rssBytes: number;
  pssBytes: number;
}

/** RSS and PSS of one process (zeros when it is gone or unreadable). */
export function memoryOf(pid: number): Memory {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { rssBytes: kb('Rss'), pssBytes: kb('Pss') };
  } catch {
    return { rssBytes: 0, pssBytes: 0 };
  }
}

/** Summed RSS and PSS of a set of processes. */
export function memoryOfAll(pids: number[]): Memory {
  let rss = 0;
  let pss = 0;
  for (const p of pids) {
    const m = memoryOf(p);
    rss += m.rssBytes;
    pss += m.pssBytes;
  }
  return { rssBytes: rss, pssBytes: pss };
}

/** MemAvailable from /proc/meminfo, in bytes. */
export function memAvailable(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** CPU time (user + system) consumed so far by a set of processes, in milliseconds (10 ms ticks). */
export function cpuMsOf(pids: number[]): number {
  let ticks = 0;
  for (const p of pids) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 14 and 15 of stat(5) (utime, stime) are at 11 and 12 after the command name.
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10;
}

/** CPU of a process's exited and reaped children (cutime + cstime in /proc/<pid>/stat), in ms. */
export function reapedCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) * 10;
  } catch {
    return 0;
  }
}
