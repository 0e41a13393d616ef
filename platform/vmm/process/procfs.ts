/**
 * What the process driver reads from Linux's /proc about the processes it started: the tree under a
 * sandbox (bwrap's pid namespace hides the agent as a grandchild), each process's threads, and the
 * fields of `stat` it needs. Every reader answers "nothing" for a process that has already gone.
 */
import { readFileSync, readdirSync } from 'node:fs';

/**
 * Direct children of `pid`. Linux lists children per thread (`task/<tid>/children` names those the
 * thread forked), so every thread is read: a process that spawns from a worker thread has its
 * children under that thread.
 */
export function childPids(pid: number): number[] {
  return threadIds(pid).flatMap((tid) => taskChildren(pid, tid));
}

/** The children thread `tid` of `pid` forked, or [] when it is gone. */
function taskChildren(pid: number, tid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}

/** Every descendant of `pid`, deepest first. */
export function deepChildPids(pid: number): number[] {
  const out: number[] = [];
  for (const c of childPids(pid)) out.push(...deepChildPids(c), c);
  return out;
}

/**
 * The descendants of `pid` that each process's main thread forked, deepest first: one read per
 * process instead of one per thread. For the pollers that run on the daemon's event loop while a
 * sandbox starts (the pacer, the session watch): a sandbox's tree is bwrap (one thread) and the
 * agent, and reading each of the agent's dozen threads cost about 0.3 ms per listing, 1 ms on a
 * busy host. A child forked by another thread is missed; what must reach every process (signals,
 * priorities) uses deepChildPids.
 */
export function deepMainThreadChildPids(pid: number): number[] {
  const out: number[] = [];
  for (const c of taskChildren(pid, pid)) out.push(...deepMainThreadChildPids(c), c);
  return out;
}

/** The thread ids of `pid` (the main thread included), or [] when it is gone. */
export function threadIds(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

export interface ProcStat {
  pid: number;
  /** R running, S sleeping, T stopped (SIGSTOP), Z zombie… */
  state: string;
  ppid: number;
  /** Session id: a process that called setsid() leads a new one. */
  session: number;
  /** The nice value of this task (a thread, when read from /proc/<pid>/task/<tid>/stat). */
  nice: number;
}

/**
 * Parses a `stat` line. The command name (field 2) may hold spaces and parentheses, so fields are
 * counted from the last ')'.
 */
export function parseStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  const pid = Number(text.slice(0, text.indexOf(' ')));
  // After ')': field 3 (state) is index 0, so field n is index n - 3.
  const f = text.slice(close + 2).split(' ');
  return { pid, state: f[0], ppid: Number(f[1]), session: Number(f[3]), nice: Number(f[16]) };
}

/** `stat` of a process, or of one of its threads when `tid` is given; undefined when gone. */
export function readStat(pid: number, tid?: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}
