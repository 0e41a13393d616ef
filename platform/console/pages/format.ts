/**
 * How the console writes times, sizes, rates and paths: one place, so a figure the server renders
 * and the same figure the script refreshes (from /console/api/functions) read alike.
 */
import { formatBytes } from '../../registry/lineage.ts';

export { formatBytes };

/** `2026-01-02 03:04:05Z`: a fixed width in tables, and the same everywhere. */
export const iso = (ms: number | string): string =>
  new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');

export const isoAttr = (ms: number | string): string => new Date(ms).toISOString();

/** The first 12 hex digits of a digest: enough to tell versions apart on a page. */
export const short = (digest: string): string => digest.replace(/^sha256:/, '').slice(0, 12);

export const fnPath = (name: string): string => `/console/functions/${encodeURIComponent(name)}`;
export const vmPath = (id: string): string => `/console/machines/${encodeURIComponent(id)}`;

/** The function page's log, filtered to one invocation: where an invocation's lines are. */
export const logsOf = (fn: string, invocation: string): string => `${fnPath(fn)}?invocation=${encodeURIComponent(invocation)}#logs-title`;

/** Milliseconds as people read them: `0.8 ms`, `12 ms`, `1.4 s`; `–` for none. */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  return Number.isInteger(s) ? `${s} s` : `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

/** A share as a percentage: `0 %`, `2.5 %`, `100 %`; `–` without requests. */
export function percent(share: number | null): string {
  if (share === null) return '–';
  const p = share * 100;
  return `${p === 0 || p >= 10 ? Math.round(p) : p.toFixed(1)} %`;
}

/** Requests per second: two decimals below 10, whole numbers above. */
export function rate(rps: number): string {
  return rps === 0 ? '0' : rps < 10 ? rps.toFixed(2) : String(Math.round(rps));
}

/** How long a window of figures covers, for headings: `5 min`, `40 s`. */
export function span(seconds: number): string {
  if (seconds < 1) return 'since this page was opened';
  return seconds >= 90 ? `${Math.round(seconds / 60)} min` : `${Math.round(seconds)} s`;
}

/** An alias's routes as text: `v3` or `v2 90 % · v3 10 %`. */
export function routesText(routes: Array<{ seq?: number; version: string; weight: number }>): string {
  const name = (r: { seq?: number; version: string }) => (r.seq !== undefined ? `v${r.seq}` : r.version);
  return routes.length === 1 ? name(routes[0]) : routes.map((r) => `${name(r)} ${r.weight} %`).join(' · ');
}
