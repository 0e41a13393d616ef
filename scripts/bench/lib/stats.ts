/**
 * Summaries of samples: nearest-rank percentiles (no interpolation, so a reported p99 is a value
 * that was really observed), plus the formatting helpers every report table uses. Times are in
 * milliseconds unless a name says otherwise.
 */

export interface Summary {
  n: number;
  min: number;
  median: number;
  p99: number;
  mean: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array, q in [0, 1]. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** Median, p99 and friends of `samples` (an empty list gives NaNs and n = 0). */
export function summarize(samples: readonly number[]): Summary {
  const s = Float64Array.from(samples).sort();
  const arr = Array.from(s);
  const sum = arr.reduce((a, b) => a + b, 0);
  return {
    n: arr.length,
    min: arr.length ? arr[0] : Number.NaN,
    median: percentile(arr, 0.5),
    p99: percentile(arr, 0.99),
    mean: arr.length ? sum / arr.length : Number.NaN,
    max: arr.length ? arr[arr.length - 1] : Number.NaN,
  };
}

/** The median of a few values (used across repeated rounds). */
export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 0.5);
}

/** A number for a table: `digits` significant decimals, thousands kept plain; NaN/null as "n/a". */
export function fmt(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString('en-US');
  if (abs >= 100) return x.toFixed(Math.max(0, digits - 2));
  if (abs >= 10) return x.toFixed(Math.max(0, digits - 1));
  return x.toFixed(digits);
}

/** Milliseconds with a unit, to a sensible precision. */
export function ms(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  return `${x < 1 ? x.toFixed(3) : fmt(x, 2)} ms`;
}

/** A ratio as `1.23×`. */
export function ratio(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return 'n/a';
  return `${x.toFixed(x < 0.1 ? 3 : 2)}×`;
}

export function mib(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return 'n/a';
  return `${fmt(bytes / 1024 / 1024, 2)} MiB`;
}

/** Wall time of an async call in milliseconds, with its result. */
export async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, performance.now() - t];
}

export const sleep = (msec: number) => new Promise<void>((r) => setTimeout(r, msec));
