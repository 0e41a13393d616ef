/**
 * A function's row as the functions page, the function page and /console/api/functions show it:
 * what it is (versions, aliases, URL), its instances, and its traffic over the last minutes. The
 * figures go out rendered (`shown`), so the script writes the server's own strings into the page
 * and both read alike.
 */
import type { FunctionService } from '../functions/service.ts';
import { ConsoleStats, type Readings, type WindowFigures } from './stats.ts';
import { duration, percent, rate } from './pages/format.ts';

export interface AliasRow {
  name: string;
  routes: Array<{ version: string; weight: number; seq?: number }>;
}

export interface FunctionRow {
  name: string;
  latest: { id: string; seq: number; digest: string } | null;
  aliases: AliasRow[];
  instances: { ready: number; busy: number; starting: number };
  url: string;
  /** Since the daemon started. */
  totals: { requests: number; errors: number; cold: number };
  /** Over the sampled history (up to five minutes). */
  window: WindowFigures;
  /** Figures as rendered, by the `data-field` they fill. */
  shown: Record<Field, string>;
}

export const FIELDS = ['ready', 'busy', 'starting', 'rps', 'errorRate', 'p50', 'p99', 'cold', 'requests', 'errors'] as const;
export type Field = (typeof FIELDS)[number];

export function functionRow(
  functions: FunctionService,
  stats: ConsoleStats,
  live: { t: number; readings: Readings },
  name: string,
  origin: string,
): FunctionRow {
  const d = functions.describe(name);
  const seqOf = new Map<string, number>();
  const seq = (id: string) => {
    if (!seqOf.has(id)) seqOf.set(id, functions.repo.getVersion(id)?.seq ?? 0);
    return seqOf.get(id)!;
  };
  let ready = 0;
  let busy = 0;
  let starting = 0;
  for (const p of d.pools) {
    ready += p.idle;
    busy += p.instances - p.idle;
    starting += p.starting;
  }
  const t = stats.totals(name, live);
  const window = stats.window(name, live);
  const instances = { ready, busy, starting };
  const totals = { requests: t.requests, errors: t.errors, cold: t.cold };
  return {
    name,
    latest: d.latest,
    aliases: d.aliases.map((a) => ({ name: a.name, routes: a.routes.map((r) => ({ ...r, seq: seq(r.version) })) })),
    instances,
    url: `${origin}/fn/${name}/`,
    totals,
    window,
    shown: {
      ready: String(ready),
      busy: String(busy),
      starting: String(starting),
      rps: rate(window.rps),
      errorRate: percent(window.errorRate),
      p50: duration(window.p50),
      p99: duration(window.p99),
      cold: String(window.cold),
      requests: String(totals.requests),
      errors: String(totals.errors),
    },
  };
}
