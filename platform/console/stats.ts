/**
 * Requests, errors, cold starts and latency per function for the console, read from the daemon's
 * own Prometheus series (platform/metrics.ts): `ignition_invocations_total` (by outcome and start)
 * and the `ignition_invocation_duration_seconds` histogram. The console shows what `/metrics`
 * shows and counts nothing of its own on the invocation path.
 *
 * Rates and percentiles "over the last minutes" are differences between two readings of those
 * cumulative series, so a short history of readings is sampled while someone looks at the console
 * (the timer starts with the first request and stops when nobody asked for a while). A
 * percentile is estimated from the histogram's buckets as Prometheus' `histogram_quantile` does:
 * linear within the bucket the rank falls in, so it is as precise as the buckets are narrow.
 */
import { LATENCY_BUCKETS, type PlatformMetrics } from '../metrics.ts';

export const SAMPLE_MS = 10_000;
/** 30 samples of 10 s: the last five minutes. */
export const SAMPLES = 30;
/** The sampler stops after this long without a console request. */
const IDLE_STOP_MS = 5 * 60_000;

/** One function's cumulative figures at one reading. */
export interface Reading {
  requests: number;
  /** Platform failures (outcome "error") and the function's own 5xx answers. */
  errors: number;
  /** Invocations that waited for an instance to start. */
  cold: number;
  /** Cumulative counts of the duration histogram, one per LATENCY_BUCKETS bound, summed over versions. */
  buckets: number[];
  /** Observations of the histogram (every answered invocation; failures have no duration). */
  observed: number;
}

/** One point of a chart: what happened in the interval ending at `t` (ms). Latencies in ms, null without requests. */
export interface Point {
  t: number;
  requests: number;
  errors: number;
  p50: number | null;
  p99: number | null;
}

/** Figures over a window of time (the history the sampler holds, up to five minutes). */
export interface WindowFigures {
  seconds: number;
  requests: number;
  errors: number;
  cold: number;
  /** Requests per second over the window. */
  rps: number;
  /** errors / requests, or null without requests. */
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
}

export type Readings = Map<string, Reading>;

const label = (labels: string, name: string) => new RegExp(`(?:^|,)${name}="((?:[^"\\\\]|\\\\.)*)"`).exec(labels)?.[1];

function emptyReading(): Reading {
  return { requests: 0, errors: 0, cold: 0, buckets: LATENCY_BUCKETS.map(() => 0), observed: 0 };
}

/** Every function's cumulative figures, now. */
export function read(metrics: PlatformMetrics): Readings {
  const out: Readings = new Map();
  const of = (fn: string) => {
    let r = out.get(fn);
    if (!r) out.set(fn, (r = emptyReading()));
    return r;
  };
  metrics.invocations.each((labels, n) => {
    const fn = label(labels, 'function');
    if (!fn) return;
    const r = of(fn);
    r.requests += n;
    const outcome = label(labels, 'outcome');
    if (outcome === 'error' || outcome === '5xx') r.errors += n;
    if (label(labels, 'start') === 'cold') r.cold += n;
  });
  metrics.invocationDuration.each((labels, counts, count) => {
    const fn = label(labels, 'function');
    if (!fn) return;
    const r = of(fn);
    for (let i = 0; i < r.buckets.length; i++) r.buckets[i] += counts[i] ?? 0;
    r.observed += count;
  });
  return out;
}

/**
 * The q-quantile (0..1) of the observations between two readings, in milliseconds, or null when
 * none fell between them. `bounds` are the buckets' upper bounds in seconds; a rank beyond the
 * last bound (the +Inf bucket) is reported as that bound: "at least".
 */
export function quantile(bounds: readonly number[], counts: readonly number[], total: number, q: number): number | null {
  if (total <= 0) return null;
  const rank = q * total;
  let prevCount = 0;
  let prevBound = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i] >= rank) {
      const inBucket = counts[i] - prevCount;
      const share = inBucket > 0 ? (rank - prevCount) / inBucket : 1;
      return (prevBound + (bounds[i] - prevBound) * share) * 1000;
    }
    prevCount = counts[i];
    prevBound = bounds[i];
  }
  return bounds[bounds.length - 1] * 1000;
}

/** What happened to one function between readings `a` (older) and `b`. */
export function between(a: Reading | undefined, b: Reading | undefined, seconds: number): WindowFigures {
  const x = a ?? emptyReading();
  const y = b ?? emptyReading();
  // Counters only grow; a reading of a function removed and deployed again can still go back.
  const d = (p: number, q: number) => Math.max(0, q - p);
  const requests = d(x.requests, y.requests);
  const errors = d(x.errors, y.errors);
  const counts = y.buckets.map((n, i) => d(x.buckets[i], n));
  const observed = d(x.observed, y.observed);
  return {
    seconds,
    requests,
    errors,
    cold: d(x.cold, y.cold),
    rps: seconds > 0 ? requests / seconds : 0,
    errorRate: requests > 0 ? errors / requests : null,
    p50: quantile(LATENCY_BUCKETS, counts, observed, 0.5),
    p99: quantile(LATENCY_BUCKETS, counts, observed, 0.99),
  };
}

export class ConsoleStats {
  private history: Array<{ t: number; readings: Readings }> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastAsked = 0;

  constructor(
    private readonly metrics: PlatformMetrics | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** The figures now; pass the result to `series` and `window` so one request reads once. */
  live(): { t: number; readings: Readings } {
    this.touch();
    return { t: this.now(), readings: this.metrics ? read(this.metrics) : new Map() };
  }

  /** Totals since the daemon started. */
  totals(fn: string, live: { readings: Readings }): Reading {
    return live.readings.get(fn) ?? emptyReading();
  }

  /** One point per sampled interval over the last minutes, ending with the interval still running. */
  series(fn: string, live: { t: number; readings: Readings }): Point[] {
    const samples = [...this.history, live];
    const points: Point[] = [];
    for (let i = 1; i < samples.length; i++) {
      const w = between(samples[i - 1].readings.get(fn), samples[i].readings.get(fn), (samples[i].t - samples[i - 1].t) / 1000);
      points.push({ t: samples[i].t, requests: w.requests, errors: w.errors, p50: w.p50, p99: w.p99 });
    }
    return points;
  }

  /** Figures from the oldest sample held (at most five minutes ago) to now. */
  window(fn: string, live: { t: number; readings: Readings }): WindowFigures {
    const first = this.history[0] ?? live;
    return between(first.readings.get(fn), live.readings.get(fn), (live.t - first.t) / 1000);
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
    if (!this.metrics) return;
    this.history.push({ t: this.now(), readings: read(this.metrics) });
    if (this.history.length > SAMPLES) this.history.splice(0, this.history.length - SAMPLES);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.history = [];
  }
}
