/**
 * Fields of /proc/<pid>/stat that tests check (state, parent, session, nice), read the way the
 * kernel writes them, and the cpu.idle of a process's cgroup.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

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

/** cpu.idle of the cgroup `pid` is in (cgroup v1's cpu hierarchy, or v2's unified one). */
export function cpuIdle(pid: number): string | undefined {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, rel] = line.split(':');
    if (rel === undefined) continue;
    const v1 = controllers.split(',').includes('cpu');
    if (!v1 && controllers !== '') continue;
    try {
      return readFileSync(path.join(v1 ? '/sys/fs/cgroup/cpu' : '/sys/fs/cgroup', rel, 'cpu.idle'), 'utf8').trim();
    } catch {
      // not this hierarchy
    }
  }
  return undefined;
}
