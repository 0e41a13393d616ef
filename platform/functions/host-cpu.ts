/**
 * How much CPU the host has idle right now, for decisions that only make sense when it has some:
 * a pool starting a spare instance ahead of demand (pool.ts). Read from /proc/stat (Linux) every
 * SAMPLE_MS on a timer that does not hold the process open: the idle share between the two
 * latest readings times the number of CPUs, so a spike is seen within SAMPLE_MS and a quiet
 * stretch long ago does not count. Null where it cannot be read (then nothing is held back).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** The port: idle CPUs (0 … CPU count) over the last moments, or null when unknown. */
export interface HostCpu {
  idleCpus(): number | null;
}

/** A host that always has a CPU to spare (tests, and hosts without /proc). */
export const IDLE_HOST: HostCpu = { idleCpus: () => null };

const SAMPLE_MS = 250;

interface Reading {
  idle: number;
  total: number;
}

/** Parses the first line of /proc/stat into busy and total ticks (idle and iowait are not busy). Pure. */
export function parseHostCpu(text: string): { busy: number; total: number } {
  const f = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

/** Parses the first line of /proc/stat into idle (idle + iowait) and total ticks. Pure. */
export function parseIdle(stat: string): { idle: number; total: number } {
  const { busy, total } = parseHostCpu(stat);
  return { idle: total - busy, total };
}

/** Idle CPUs between two readings (null when no time passed between them). Pure. */
export function idleBetween(a: { idle: number; total: number }, b: { idle: number; total: number }, cpus: number): number | null {
  const total = b.total - a.total;
  return total > 0 ? ((b.idle - a.idle) / total) * cpus : null;
}

/** The host's CPU from /proc/stat, sampled every SAMPLE_MS from the first call on. */
export function procHostCpu(read: () => string = () => readFileSync('/proc/stat', 'utf8')): HostCpu {
  const cpus = availableParallelism();
  let prev: Reading | undefined;
  let last: Reading | undefined;
  let timer: NodeJS.Timeout | undefined;
  const sample = function sample() {
    try {
      prev = last;
      last = parseIdle(read());
    } catch {
      clearInterval(timer);
      prev = last = undefined;
    }
  };
  return {
    idleCpus() {
      if (!timer) {
        sample();
        timer = setInterval(sample, SAMPLE_MS);
        timer.unref();
      }
      return prev && last ? idleBetween(prev, last, cpus) : null;
    },
  };
}
