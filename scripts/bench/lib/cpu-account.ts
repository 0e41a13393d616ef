/**
 * The CPU a process and everything it ever starts consume, whoever reaps them.
 *
 * Summing /proc/<pid>/stat over a process tree (procs.ts) misses the CPU of children that have
 * exited unless the tree's root reaped them: a sandbox's Node runs in a PID namespace of its own
 * (bwrap --unshare-pid), and when a sandbox is killed its processes can be reparented to the
 * host's init and reaped there, out of every counter the daemon's tree has. A cgroup counts its
 * members' CPU as they run, and a group's counter includes its descendant groups, removed ones
 * too. So the benchmark starts the daemon inside a cgroup of its own (the benchmark moves itself
 * into the group for the spawn and back right after, as the driver's launcher does for sandboxes)
 * and reads the group's counter: cgroup v1's `cpuacct.usage` (ns), v2's `usage_usec` in
 * `cpu.stat`. Undefined where no such group can be made (not root, no cgroups): then the caller
 * falls back to the process tree and says it is a lower bound.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = '/sys/fs/cgroup';
let made = 0;

export interface CpuAccount {
  /** CPU used by the group so far, in ms. */
  cpuMs(): number;
  /** Removes the group once its processes are gone (waits up to 5 s for the last to exit). */
  close(): Promise<void>;
}

interface Where {
  dir: string;
  home: string;
  read: (dir: string) => number;
}

/** Parses cgroup v2 `cpu.stat` text into ms of CPU. Pure. */
export function v2UsageMs(text: string): number {
  const m = /^usage_usec (\d+)$/m.exec(text);
  return m ? Number(m[1]) / 1000 : Number.NaN;
}

function where(): Where | undefined {
  const self = readFileSync('/proc/self/cgroup', 'utf8');
  const id = `ignition-bench-${process.pid}-${made++}`;
  if (existsSync(path.join(ROOT, 'cgroup.controllers'))) {
    const rel = /^0::(.*)$/m.exec(self)?.[1];
    if (rel === undefined) return undefined;
    const home = path.join(ROOT, rel);
    return { dir: path.join(home, id), home, read: (dir) => v2UsageMs(readFileSync(path.join(dir, 'cpu.stat'), 'utf8')) };
  }
  // v1: the hierarchy that has cpuacct, alone or co-mounted (cpu,cpuacct).
  for (const line of self.split('\n')) {
    const [, controllers, rel] = line.split(':');
    if (!controllers?.split(',').includes('cpuacct')) continue;
    const mount = [controllers, 'cpuacct', 'cpu,cpuacct'].map((m) => path.join(ROOT, m)).find((m) => existsSync(path.join(m, 'cpuacct.usage')));
    if (!mount) return undefined;
    const home = path.join(mount, rel);
    return { dir: path.join(home, id), home, read: (dir) => Number(readFileSync(path.join(dir, 'cpuacct.usage'), 'utf8')) / 1e6 };
  }
  return undefined;
}

/** Runs `spawn` (which must fork synchronously) with its child in a new group; the group's account, or undefined. */
export function spawnAccounted<T>(spawn: () => T): { child: T; account: CpuAccount | undefined } {
  let w: Where | undefined;
  try {
    w = where();
    if (w) {
      mkdirSync(w.dir);
      writeFileSync(path.join(w.dir, 'cgroup.procs'), String(process.pid));
    }
  } catch {
    if (w) tryRmdir(w.dir);
    w = undefined;
  }
  try {
    return { child: spawn(), account: w && account(w) };
  } finally {
    if (w) writeFileSync(path.join(w.home, 'cgroup.procs'), String(process.pid));
  }
}

function account(w: Where): CpuAccount | undefined {
  let readable = false;
  try {
    readable = Number.isFinite(w.read(w.dir));
  } catch {
    // No counter: not accounted.
  }
  if (!readable) return undefined;
  return {
    cpuMs: () => w.read(w.dir),
    async close() {
      for (let i = 0; i < 50 && !tryRmdir(w.dir); i++) await new Promise((r) => setTimeout(r, 100));
    },
  };
}

/** Whether `dir` is gone now. */
function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
