/**
 * Where an invocation's outcome is counted, whatever brought it: a request to `/fn` (the gateway,
 * api/invocation.ts) or an invocation the daemon makes itself (async jobs, cron triggers and
 * `POST /v1/functions/<name>/invoke`, through buffered.ts). Both feed the same series of
 * /metrics and the console's recent invocations (recent.ts), so a function's request rate,
 * errors and latency say the same wherever its invocations came from.
 *
 * The gateway calls it once per request on the warm path: plain calls, no objects built here
 * beyond what the metrics and the ring already make.
 */
import { IgnitionError } from '../errors.ts';
import type { PlatformMetrics } from '../metrics.ts';
import type { RecentInvocations } from './recent.ts';

/**
 * The `function` label of requests to functions that do not exist (or whose names are not valid).
 * Callers pick those names: one series each let anonymous requests grow /metrics, and the
 * daemon's memory, without bound. Labels otherwise hold only what the platform defines: function
 * names that exist, their version ids, error codes and outcome classes; never the alias, the path
 * or the method of a request.
 */
export const UNKNOWN_FUNCTION = '_unknown';

const OUTCOMES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** `2xx` and so on, without building the string per request. */
function outcomeOf(status: number): string {
  const n = Math.floor(status / 100);
  return OUTCOMES[n] ?? `${n}xx`;
}

export class InvocationOutcomes {
  constructor(
    private readonly metrics: PlatformMetrics | undefined,
    private readonly recent: RecentInvocations,
  ) {}

  /** The function answered (any status); `ms` to its response head. */
  answered(fn: string, version: string, id: string, status: number, ms: number, cold: boolean): void {
    const metrics = this.metrics;
    if (metrics) {
      metrics.invocationDuration.observe({ function: fn, version }, ms / 1000);
      metrics.invocations.inc({ function: fn, version, outcome: outcomeOf(status), start: cold ? 'cold' : 'warm' });
    }
    this.recent.answered(fn, id, version, status, ms, cold);
  }

  /**
   * The platform failed it, from routing (an unknown alias) to the handler. `fn` is the function's
   * label: UNKNOWN_FUNCTION for names that do not exist, which the recent ring leaves out.
   */
  failed(fn: string, version: string | null, id: string, err: unknown, ms: number): void {
    const metrics = this.metrics;
    if (metrics) {
      metrics.invocationErrors.inc({ function: fn, code: err instanceof IgnitionError ? err.code : 'internal' });
      metrics.invocations.inc({ function: fn, outcome: 'error', start: 'unknown' });
    }
    if (fn !== UNKNOWN_FUNCTION) this.recent.failed(fn, id, version, err, ms);
  }

  /**
   * A response cut at its timeout after its status went out (as 2xx, or whatever the function
   * said): it counts as a failure too, and its entry in the recent invocations says how it ended.
   * One function for every invocation, not a closure each.
   */
  readonly cut = (fn: string, err: IgnitionError, id: string): void => {
    this.metrics?.invocationErrors.inc({ function: fn, code: err.code });
    this.recent.cut(id, err);
  };
}
