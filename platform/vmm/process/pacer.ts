/**
 * Pacing a background machine's start while the host is busy.
 *
 * Priority (priority.ts) decides who gets a contended CPU, but on a small virtual machine that is
 * not the whole story: a vCPU kept busy by background work slows the neighbouring vCPU that serves
 * traffic, whatever the priorities. Measured next to the operations benchmark's traffic on a 2-vCPU
 * host, even a SCHED_IDLE CPU burner raised p99 1.7-2.1x; one paced to run 30% of the time, about
 * half that. So while the rest of the host is busy, a background start runs in short bursts: its
 * sandbox tree is stopped (SIGSTOP) and continued (SIGCONT) on a fixed period, `duty` of the time
 * running. Every `windowMs` the pacer looks at how busy the host was apart from the machine itself
 * (/proc/stat minus the tree's own CPU): below `busyAbove` the start runs freely, as on an idle host
 * pacing would only slow the deploy down.
 */
import { readFileSync } from 'node:fs';

export interface PacerOptions {
  /** One stop-and-continue cycle. */
  periodMs: number;
  /** The share of each period the machine runs while the host is busy. */
  duty: number;
  /** Host CPU busy share (apart from the machine) above which the start is paced. */
  busyAbove: number;
  /** How often the host's load is looked at again. */
  windowMs: number;
}

export const PACING: PacerOptions = { periodMs: 20, duty: 0.3, busyAbove: 0.25, windowMs: 100 };

/** CPU counters: the host's busy and total time, the tree's own time (all in clock ticks). */
export interface CpuSample {
  hostBusy: number;
  hostTotal: number;
  tree: number;
}

/**
 * Pure: the duty for the next window. `others` is the share of the host's CPU capacity that
 * something other than the machine used between the two samples.
 */
export function nextDuty(prev: CpuSample, now: CpuSample, opts: Pick<PacerOptions, 'duty' | 'busyAbove'>): { duty: number; others: number } {
  const total = now.hostTotal - prev.hostTotal;
  if (total <= 0) return { duty: opts.duty, others: Number.NaN };
  const others = Math.max(0, now.hostBusy - prev.hostBusy - (now.tree - prev.tree)) / total;
  return { duty: others >= opts.busyAbove ? opts.duty : 1, others };
}

/** Parses the first line of /proc/stat into busy and total ticks (idle and iowait are not busy). */
export function parseHostCpu(text: string): { busy: number; total: number } {
  const f = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/** utime + stime of a process (all its threads), from its stat line; 0 when gone. */
function processTicks(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function sample(pids: number[]): CpuSample | undefined {
  try {
    const host = parseHostCpu(readFileSync('/proc/stat', 'utf8'));
    return { hostBusy: host.busy, hostTotal: host.total, tree: pids.reduce((n, p) => n + processTicks(p), 0) };
  } catch {
    return undefined;
  }
}

/**
 * Runs the stop/continue cycle over the tree `pids()` names. `stop()` always leaves the tree
 * running. Idempotent.
 *
 * Listing the tree walks /proc on the daemon's event loop (about 0.3 ms for a sandbox of three
 * processes on the benchmark host, more when it is busy), and a start is paced when the host is
 * busy, which is when the event loop has the least to spare. So the tree is listed at every stop
 * only while it is still changing (bwrap forks, the agent starts); once it has stayed the same
 * over a whole window, only once a window.
 */
export class StartPacer {
  private timer: NodeJS.Timeout | undefined;
  private pids: number[] = [];
  private stopped = false;
  private halted = false;
  private duty = 1;
  private windowEnd = 0;
  private last: CpuSample | undefined;
  /** The tree as listed at the last window. */
  private windowPids: number[] = [];
  /** It was the same at the last two windows: listed once a window, not at every stop. */
  private settled = false;

  constructor(
    private readonly tree: () => number[],
    private readonly signal: (pids: number[], sig: 'SIGSTOP' | 'SIGCONT') => void,
    private readonly opts: PacerOptions = PACING,
  ) {}

  start() {
    this.pids = this.tree();
    this.windowPids = this.pids;
    this.settled = false;
    this.last = sample(this.pids);
    this.windowEnd = performance.now() + this.opts.windowMs;
    // The first window is paced: nothing is known yet of the host's load.
    this.duty = this.opts.duty;
    this.run();
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.halted) this.signal([...new Set([...this.pids, ...this.tree()])], 'SIGCONT');
    this.halted = false;
  }

  private run() {
    if (this.stopped) return;
    if (this.halted) {
      this.signal(this.pids, 'SIGCONT');
      this.halted = false;
    }
    this.maybeDecide();
    if (this.duty >= 1) {
      this.timer = setTimeout(() => this.run(), this.opts.periodMs);
      return;
    }
    this.timer = setTimeout(() => this.halt(), this.opts.periodMs * this.duty);
  }

  private halt() {
    if (this.stopped) return;
    // Listed afresh while the sandbox forks as it starts (bwrap, then the agent).
    if (!this.settled) this.pids = this.tree();
    this.signal(this.pids, 'SIGSTOP');
    this.halted = true;
    this.timer = setTimeout(() => this.run(), this.opts.periodMs * (1 - this.duty));
  }

  private maybeDecide() {
    if (performance.now() < this.windowEnd) return;
    this.windowEnd = performance.now() + this.opts.windowMs;
    const pids = this.tree();
    this.settled = pids.length === this.windowPids.length && pids.every((p, i) => p === this.windowPids[i]);
    this.pids = this.windowPids = pids;
    const now = sample(this.pids);
    if (this.last && now) this.duty = nextDuty(this.last, now, this.opts).duty;
    this.last = now;
  }
}
