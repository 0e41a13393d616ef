/**
 * Requests and errors per function for the console, read from the daemon's own Prometheus
 * counters (platform/metrics.ts), so the console shows what `/metrics` shows and counts nothing
 * of its own on the invocation path. A short history of the totals is sampled while someone looks
 * at the console (the timer starts with the first request and stops when nobody asked for a while).
 */
import type { PlatformMetrics } from '../metrics.ts';

export const SAMPLE_MS = 10_000;
/** 30 samples of 10 s: the last five minutes. */
export const SAMPLES = 30;
/** The sampler stops after this long without a console request. */
const IDLE_STOP_MS = 5 * 60_000;

export interface Totals {
  requests: number;
  errors: number;
}

/** One point of a function's chart: requests in the interval ending at `t` (ms). */
export interface Point {
  t: number;
  requests: number;
}

const LINE = /^ignition_invocations_total\{(.*)\} (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/;
const label = (labels: string, name: string) => new RegExp(`(?:^|,)${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(labels)?.[1];

/** Totals by function from the invocation counter's rendered series. */
export function totalsFrom(metrics: PlatformMetrics): Map<string, Totals> {
  const out = new Map<string, Totals>();
  for (const line of metrics.invocations.render()) {
    const m = LINE.exec(line);
    if (!m) continue;
    const fn = label(m[1], 'function');
    if (!fn) continue;
    const n = Number(m[2]);
    const t = out.get(fn) ?? { requests: 0, errors: 0 };
    t.requests += n;
    // Platform failures (outcome "error") and the function's own 5xx answers.
    const outcome = label(m[1], 'outcome');
    if (outcome === 'error' || outcome === '5xx') t.errors += n;
    out.set(fn, t);
  }
  return out;
}

export class ConsoleStats {
  private history: Array<{ t: number; totals: Map<string, Totals> }> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastAsked = 0;

  constructor(
    private readonly metrics: PlatformMetrics | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  totals(): Map<string, Totals> {
    return this.metrics ? totalsFrom(this.metrics) : new Map();
  }

  /** Requests per interval over the last minutes, ending with the interval still running. */
  series(fn: string): Point[] {
    this.touch();
    const live = { t: this.now(), totals: this.totals() };
    const samples = [...this.history, live];
    const points: Point[] = [];
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1].totals.get(fn)?.requests ?? 0;
      const b = samples[i].totals.get(fn)?.requests ?? 0;
      points.push({ t: samples[i].t, requests: Math.max(0, b - a) });
    }
    return points;
  }

  private touch(): void {
    this.lastAsked = this.now();
    if (this.timer || !this.metrics) return;
    this.sample();
    this.timer = setInterval(() => {
      if (this.now() - this.lastAsked > IDLE_STOP_MS) return this.stop();
      this.sample();
    }, SAMPLE_MS);
    // Sampling never keeps the daemon alive.
    this.timer.unref();
  }

  private sample(): void {
    this.history.push({ t: this.now(), totals: this.totals() });
    if (this.history.length > SAMPLES) this.history.splice(0, this.history.length - SAMPLES);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.history = [];
  }
}
