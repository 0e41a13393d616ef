/**
 * CPU priority of a sandbox's process tree (Linux), so that a machine that does not serve traffic
 * yet (a deploy's build machine, a new version's pre-warmed instances) only gets the CPU that the
 * daemon and the serving machines leave over.
 *
 * Two knobs, because either alone can be ineffective:
 *  - The nice value of every thread of every process in the tree. On Linux setpriority() changes
 *    one thread, and Node runs a dozen (V8's compiler and GC helpers, libuv's pool), so each is set.
 *  - The nice value of the tree's autogroup. With CONFIG_SCHED_AUTOGROUP enabled (the default of
 *    most distributions) every session is scheduled as one group against the others, and each
 *    sandbox is a session of its own (the launcher starts bwrap with setsid): thread nice values
 *    then only rank the sandbox's threads among themselves, and the group competes at full weight
 *    unless its own nice is raised (/proc/<pid>/autogroup). A new session starts at autogroup
 *    nice 0, so the launcher sets it the moment its spawn returns (spawner.ts).
 *
 * A background sandbox is forked by the launcher from a thread at the lower nice value
 * (spawner.ts), so it runs at that value from its first instruction: renicing it after the spawn
 * races with bwrap's clone of the sandbox (a child copies its parent's nice early in clone and only
 * becomes visible in /proc afterwards, and with new namespaces that window lasts milliseconds), and
 * a test caught the sandbox missed that way.
 *
 * Going back to normal (nice 0) needs CAP_SYS_NICE or an RLIMIT_NICE of 20 for threads, but not
 * for an autogroup (only negative autogroup values are privileged). So thread nice values are only
 * lowered where they can be raised again (`canRaiseNice`); a machine must never serve traffic
 * stuck at a low priority.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type { MachinePriority } from '../port.ts';
import { deepChildPids, deepMainThreadChildPids, readStat, threadIds } from './procfs.ts';

/**
 * The nice value of background machines. Under CFS/EEVDF a nice-10 task (or autogroup) weighs 110
 * against 1024 at nice 0: about a tenth of a contended core, and full speed on an idle one. So a
 * deploy takes the host's spare cycles rather than the serving path's, yet still moves when the
 * host has none; at nice 19 (weight 15) a build machine on a saturated host barely progressed and
 * only came up once the driver raised it (BACKGROUND_START_MS in driver.ts).
 */
export const BACKGROUND_NICE = 10;

/** The nice value of a machine being stopped: the lowest (see lowerForExit). */
export const EXIT_NICE = 19;

/**
 * Puts a process tree that is about to be stopped at EXIT_NICE: it serves nothing any more, and its
 * shutdown and exit (a Node process's teardown costs 10-20 ms of CPU here) should take only the CPU
 * the daemon and the serving machines leave over. A deploy's answer, when the old version drains,
 * is exactly when they would compete. Lowering needs no privilege, and nothing raises it again. A
 * sandbox in a session of its own competes as that session's autogroup; a process in the host's
 * session (no sandbox, or no autogroups), by its threads' nice values.
 */
export function lowerForExit(pid: number, knobs: { session: boolean; hostSession: number }): void {
  const member = knobs.session ? findNewSession(pid, knobs.hostSession) : undefined;
  if (member !== undefined && setAutogroupNice(member, EXIT_NICE)) return;
  setTreeNice(pid, EXIT_NICE);
}

/** The nice value for a priority. */
export function niceOf(priority: MachinePriority): number {
  return priority === 'background' ? BACKGROUND_NICE : 0;
}

const CAP_SYS_NICE = 23n;

/**
 * Whether this process may set a nice value of 0 on a process it lowered: it holds CAP_SYS_NICE
 * (`CapEff` in /proc/self/status) or its RLIMIT_NICE soft limit is at least 20 (the limit allows
 * nice values down to 20 - limit). Pure: give it the two files' text.
 */
export function canRaiseNice(status: string, limits: string): boolean {
  const cap = /^CapEff:\s*([0-9a-f]+)/im.exec(status);
  if (cap && (BigInt(`0x${cap[1]}`) >> CAP_SYS_NICE) & 1n) return true;
  const lim = /^Max nice priority\s+(\S+)/im.exec(limits);
  if (!lim) return false;
  return lim[1] === 'unlimited' || Number(lim[1]) >= 20;
}

let canRaise: boolean | undefined;

/** `canRaiseNice` of this process (read once). */
export function hostCanRaiseNice(): boolean {
  if (canRaise === undefined) {
    try {
      canRaise = canRaiseNice(readFileSync('/proc/self/status', 'utf8'), readFileSync('/proc/self/limits', 'utf8'));
    } catch {
      canRaise = false;
    }
  }
  return canRaise;
}

/** Whether the kernel has autogroups (the file exists with CONFIG_SCHED_AUTOGROUP). */
export function hasAutogroups(): boolean {
  return existsSync('/proc/self/autogroup');
}

/** Parses /proc/<pid>/autogroup (`/autogroup-123 nice 10`) into its nice value. */
export function parseAutogroupNice(text: string): number | undefined {
  const m = /\bnice\s+(-?\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The nice value of `pid`'s autogroup, or undefined (gone, or no autogroups). */
export function readAutogroupNice(pid: number): number | undefined {
  try {
    return parseAutogroupNice(readFileSync(`/proc/${pid}/autogroup`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Sets the nice value of `pid`'s autogroup (every process of its session); false if it failed. */
export function setAutogroupNice(pid: number, nice: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/autogroup`, String(nice));
    return true;
  } catch {
    return false;
  }
}

/**
 * Sets `nice` on every thread of `root` and of each of its descendants, parents before children (a
 * fork after its parent was set inherits the new value). Passes repeat until one changes nothing:
 * a thread or process started meanwhile by one not yet set is caught by the next pass. Returns how
 * many threads were changed.
 */
export function setTreeNice(root: number, nice: number): number {
  let changed = 0;
  for (let pass = 0; pass < 5; pass++) {
    let thisPass = 0;
    const visit = function visit(pid: number) {
      for (const tid of threadIds(pid)) {
        if (readStat(pid, tid)?.nice === nice) continue;
        try {
          os.setPriority(tid, nice);
          thisPass++;
        } catch {
          // gone, or not ours to change
        }
      }
    };
    visit(root);
    // deepChildPids lists deepest first; set parents first so new forks inherit.
    for (const pid of deepChildPids(root).reverse()) visit(pid);
    changed += thisPass;
    if (thisPass === 0) break;
  }
  return changed;
}

/** The first process of the tree under `root` (itself included) in a session other than `session`. */
export function findNewSession(root: number, session: number): number | undefined {
  // A sandbox leads its own session (the launcher makes it): found without listing the tree.
  const own = readStat(root);
  if (own && own.session !== session) return root;
  // Otherwise the cheap listing (procfs.ts).
  for (const pid of deepMainThreadChildPids(root).reverse()) {
    const st = readStat(pid);
    if (st && st.session !== session) return pid;
  }
  return undefined;
}
