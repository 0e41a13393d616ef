/**
 * `benchNetwork(opts)`: measures what networking costs a VM: slot set-up and teardown without the
 * pool (created on demand), acquisition from a full pool (a database UPDATE), and kernel memory
 * per slot. Called by the platform bench suite; needs root (it creates real namespaces).
 *
 * Unless told otherwise it runs against a private namespace playing the host, created and removed
 * here, so a benchmark never changes the real host's links, routes or nft rules.
 */
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NetworkService } from '../../../platform/network/service.ts';

export interface BenchNetworkOptions {
  /** Slots created per phase (and for the memory measurement). Default 20. */
  slots?: number;
  /** Use this namespace as the host; default: a private one made for the run. */
  hostNetns?: string;
}

export interface Stats {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
  mean: number;
}

export interface BenchNetworkResult {
  slots: number;
  /** acquire() with an empty pool: the whole set-up script. */
  setupOnDemandMs: Stats;
  /** release(): the teardown script. */
  teardownMs: Stats;
  /** acquire() from a full pool with the default policy. */
  acquirePooledMs: Stats;
  /** acquire() from a full pool with a non-default policy (one more script). */
  acquirePooledWithPolicyMs: Stats;
  /** Time to fill the pool with `slots` slots, in the background. */
  poolFillMs: number;
  memory: {
    /** Drop of MemAvailable while `slots` slots existed, per slot. */
    memAvailablePerSlotKiB: number;
    /** Growth of kernel slab memory, per slot. */
    slabPerSlotKiB: number;
    /** Growth of this process's cgroup memory (kernel objects are charged there), per slot; null without a memory cgroup. */
    cgroupPerSlotKiB: number | null;
  };
}

function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const r = (x: number) => Math.round(x * 10) / 10;
  return { n: s.length, min: r(s[0]), median: r(at(0.5)), p95: r(at(0.95)), max: r(s[s.length - 1]), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

function meminfo(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync('/proc/meminfo', 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Memory charged to this process's cgroup (v2 memory.current, else v1 memory.usage_in_bytes). */
function cgroupBytes(): number | null {
  try {
    const cg = fs.readFileSync('/proc/self/cgroup', 'utf8');
    const v1 = /^\d+:memory:(.*)$/m.exec(cg)?.[1];
    if (v1 !== undefined) return Number(fs.readFileSync(path.join('/sys/fs/cgroup/memory', v1, 'memory.usage_in_bytes'), 'utf8'));
    const v2 = /^0::(.*)$/m.exec(cg)?.[1];
    return v2 === undefined ? null : Number(fs.readFileSync(path.join('/sys/fs/cgroup', v2, 'memory.current'), 'utf8'));
  } catch {
    return null;
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

/** Runs the measurements and returns the numbers (milliseconds, KiB). */
export async function benchNetwork(opts: BenchNetworkOptions = {}): Promise<BenchNetworkResult> {
  const n = opts.slots ?? 20;
  const prefix = `b${randomBytes(3).toString('hex').slice(0, 5)}`;
  const ownHost = opts.hostNetns === undefined;
  const hostNetns = opts.hostNetns ?? `${prefix}-host`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ign-netbench-'));
  if (ownHost) execFileSync('ip', ['netns', 'add', hostNetns]);
  const db = new Database(path.join(dir, 'bench.sqlite'));
  db.pragma('journal_mode = WAL'); // as the daemon's store runs it
  const config = { prefix, maxSlots: Math.max(64, 2 * n), bridgeSubnet: null };
  try {
    // Phase 1: no pool. Every acquire runs the set-up script, every release the teardown.
    const bare = await NetworkService.open({ db, config, poolSize: 0, hostNetns });
    await bare.reconcile([]);
    await bare.acquire('warm-up').then(() => bare.release('warm-up'));
    const setup: number[] = [];
    const teardown: number[] = [];
    const m0 = meminfo();
    const c0 = cgroupBytes();
    for (let i = 0; i < n; i++) setup.push(await timed(() => bare.acquire(`vm-${i}`)));
    const m1 = meminfo();
    const c1 = cgroupBytes();
    for (let i = 0; i < n; i++) teardown.push(await timed(() => bare.release(`vm-${i}`)));
    await bare.close({ purge: true });

    // Phase 2: a pool of n. Acquire is an UPDATE; a policy change adds one script.
    const pooled = await NetworkService.open({ db, config, poolSize: n, hostNetns });
    const fillStart = performance.now();
    await pooled.reconcile([]);
    await pooled.poolSettled();
    const poolFillMs = Math.round(performance.now() - fillStart);
    const fast: number[] = [];
    for (let i = 0; i < Math.floor(n / 2); i++) fast.push(await timed(() => pooled.acquire(`p-${i}`)));
    const withPolicy: number[] = [];
    for (let i = Math.floor(n / 2); i < n; i++) withPolicy.push(await timed(() => pooled.acquire(`p-${i}`, { egress: false })));
    await pooled.close({ purge: true });

    return {
      slots: n,
      setupOnDemandMs: stats(setup),
      teardownMs: stats(teardown),
      acquirePooledMs: stats(fast),
      acquirePooledWithPolicyMs: stats(withPolicy),
      poolFillMs,
      memory: {
        memAvailablePerSlotKiB: Math.round((m0.MemAvailable - m1.MemAvailable) / n),
        slabPerSlotKiB: Math.round((m1.Slab - m0.Slab) / n),
        cgroupPerSlotKiB: c0 !== null && c1 !== null ? Math.round((c1 - c0) / 1024 / n) : null,
      },
    };
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
    for (const ns of fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : []) {
      if (ns.startsWith(`${prefix}-`) && (ownHost || ns !== hostNetns)) execFileSync('ip', ['netns', 'del', ns]);
    }
  }
}
