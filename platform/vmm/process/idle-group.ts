/**
 * A cgroup with `cpu.idle` set, for sandboxes that serve nothing yet: spares, a deploy's build
 * machine, a new version's pool being warmed. (Not for machines being stopped: with fresh
 * isolation every request ends one, and exits starved here held instances back.)
 *
 * Why: nice values, a thread's or an autogroup's, only weigh a task lower. A weighed-down task
 * still runs its slice once picked, and a starting Node process (a spare: 150-250 ms of CPU) then
 * holds a core for milliseconds while the daemon, the serving instance and their clients wait. A
 * task of an idle group is preempted by any other that wakes up, so a spare's start takes only the
 * CPU nobody else wants. (Measured over five interleaved pairs of runs, 8 deploys each at 1,400
 * requests/s: requests over 10 ms in the first second after a deploy fell from 253 to 65 per
 * 10,000, median of five; docs/DEPLOYS.md.)
 *
 * Linux cgroup v1 with the cpu controller (cpu.idle since 5.15): one group per driver, made under
 * the daemon's own cpu cgroup (so a service's limits still cover it), removed on close, and a
 * group left by a daemon that died is removed by the next one to start. Elsewhere (cgroup v2, no
 * permission, an older kernel) `open` says why and the nice values alone apply.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Where the v1 cpu hierarchy is mounted on every distribution that has one. */
export const V1_CPU_ROOT = '/sys/fs/cgroup/cpu';
const PREFIX = 'ignition-idle-';
/** Drivers opened by this process so far: each has a group of its own (tests run several). */
let opened = 0;

/** A process's cgroup in the v1 cpu hierarchy (`/` at its root), from /proc/<pid>/cgroup's text. */
export function cpuCgroupOf(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const [, controllers, rel] = line.split(':');
    if (controllers !== undefined && rel !== undefined && controllers.split(',').includes('cpu')) return rel;
  }
  return undefined;
}

export class IdleGroup {
  private constructor(
    private readonly root: string,
    /** The idle group's directory. */
    readonly dir: string,
    /** The cgroup.procs file of the group the daemon itself is in, where machines go back to. */
    private readonly home: string,
  ) {}

  /** Makes this daemon's idle group under `root` (the v1 cpu mount), or says why it cannot. */
  static open(root = V1_CPU_ROOT): IdleGroup | { reason: string } {
    let rel: string | undefined;
    try {
      rel = cpuCgroupOf(readFileSync('/proc/self/cgroup', 'utf8'));
    } catch {
      rel = undefined;
    }
    if (rel === undefined || !existsSync(path.join(root, 'cgroup.procs'))) return { reason: 'no cgroup v1 cpu controller' };
    const parent = path.join(root, rel);
    if (!existsSync(path.join(parent, 'cpu.idle'))) return { reason: 'the kernel has no cpu.idle (Linux 5.15 or later)' };
    removeStale(parent);
    const dir = path.join(parent, `${PREFIX}${process.pid}-${++opened}`);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'cpu.idle'), '1');
    } catch (err) {
      return { reason: `cannot make ${dir}: ${(err as Error).message}` };
    }
    return new IdleGroup(root, dir, path.join(parent, 'cgroup.procs'));
  }

  /** What a spawn in the group needs (spawner.ts): the group's cgroup.procs and the way back. */
  get start(): { procs: string; home: string } {
    return { procs: path.join(this.dir, 'cgroup.procs'), home: this.home };
  }

  /** Moves processes in; false if one could not be moved (one gone meanwhile is fine). */
  enter(pids: number[]): boolean {
    return moveAll(path.join(this.dir, 'cgroup.procs'), pids);
  }

  /** Moves processes back to the daemon's own group. */
  leave(pids: number[]): boolean {
    return moveAll(this.home, pids);
  }

  /** Whether `pid` is in the group now. */
  holds(pid: number): boolean {
    try {
      const rel = cpuCgroupOf(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
      return rel !== undefined && path.join(this.root, rel) === this.dir;
    } catch {
      return false;
    }
  }

  /** Removes the group, after moving anything still in it back home. */
  close(): void {
    const left = readPids(path.join(this.dir, 'cgroup.procs'));
    moveAll(this.home, left);
    try {
      rmdirSync(this.dir);
    } catch {
      // a process that could not be moved keeps it; the next daemon's start removes it
    }
  }
}

/** Removes the groups of daemons that are gone (rmdir takes only an empty group). */
function removeStale(parent: string) {
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.slice(PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid === process.pid || existsSync(`/proc/${pid}`)) continue;
    const dir = path.join(parent, name);
    moveAll(path.join(parent, 'cgroup.procs'), readPids(path.join(dir, 'cgroup.procs')));
    try {
      rmdirSync(dir);
    } catch {
      // still in use
    }
  }
}

function readPids(procs: string): number[] {
  try {
    return readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function moveAll(procs: string, pids: number[]): boolean {
  let ok = true;
  for (const pid of pids) {
    try {
      writeFileSync(procs, String(pid));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') ok = false;
    }
  }
  return ok;
}
