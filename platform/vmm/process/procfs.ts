/**
 * What the process driver reads from Linux's /proc about the processes it started: the tree under a
 * sandbox (bwrap's pid namespace hides the agent as a grandchild) and each process's threads.
 * Every reader answers "nothing" for a process that has already gone.
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

/** The thread ids of `pid` (the main thread included), or [] when it is gone. */
export function threadIds(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}
