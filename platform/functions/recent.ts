/**
 * The daemon's most recent invocations, in memory, for the web console's
 * Invocations page: which ones failed, how, and how long they took, each with the id its log
 * lines carry. Nothing else keeps them: the metrics count without ids, the logs hold only what
 * the function printed, and async jobs have their own table.
 *
 * Fed where an invocation's outcome is counted for the metrics (outcomes.ts): by the invocation
 * gateway for `/fn`, and for the invocations the daemon makes itself (async jobs, cron, `POST
 * /v1/functions/<name>/invoke`), with one call. It must cost the warm path next to nothing: a fixed
 * array written round, one small object per invocation, no lookups, no strings built. A restart
 * forgets it, which is fine for "what just happened".
 */
import { IgnitionError } from '../errors.ts';

/** How many invocations are kept: the newest win. */
export const RECENT_CAPACITY = 500;

export interface RecentInvocation {
  /** When the answer's head was ready (ms since the epoch). */
  at: number;
  fn: string;
  /** The request id, which the function's log lines of this invocation carry. */
  id: string;
  /** The version that served it; null when it failed before one was picked. */
  version: string | null;
  /** The HTTP status the caller got: the function's, or the platform's error status. */
  status: number;
  /** Time to the answer's head, ms (what `ignition_invocation_duration_seconds` measures). */
  ms: number;
  cold: boolean;
  /** The platform's error code and the phase it failed in; null when the function answered. */
  code: string | null;
  phase: string | null;
}

export class RecentInvocations {
  private readonly ring: Array<RecentInvocation | undefined>;
  private next = 0;

  constructor(readonly capacity = RECENT_CAPACITY) {
    this.ring = new Array<RecentInvocation | undefined>(capacity);
  }

  /** An invocation the function answered (any status). */
  answered(fn: string, id: string, version: string, status: number, ms: number, cold: boolean): void {
    this.put({ at: Date.now(), fn, id, version, status, ms, cold, code: null, phase: null });
  }

  /** An invocation the platform failed (routing, queue, start, handler, timeout…). */
  failed(fn: string, id: string, version: string | null, err: unknown, ms: number): void {
    const known = err instanceof IgnitionError;
    this.put({
      at: Date.now(),
      fn,
      id,
      version,
      status: known ? err.status : 500,
      ms,
      cold: false,
      code: known ? err.code : 'internal',
      phase: known ? (err.phase ?? null) : null,
    });
  }

  /**
   * An answered invocation whose response was then cut (at its timeout, while its body streamed):
   * its entry keeps the status the caller got and gains the failure's code and phase. Looked up by
   * id, newest first: rare, and the entry is almost always among the newest.
   */
  cut(id: string, err: IgnitionError): void {
    for (let i = 1; i <= this.capacity; i++) {
      const r = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (r?.id !== id) continue;
      r.code = err.code;
      r.phase = err.phase ?? null;
      return;
    }
  }

  private put(r: RecentInvocation): void {
    this.ring[this.next] = r;
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1;
  }

  /**
   * Newest first. `failed`: only platform failures and 5xx answers (what the console counts as
   * errors); `fn`: only that function's; `id`: only that invocation.
   */
  list(filter: { fn?: string; failed?: boolean; id?: string; limit?: number } = {}): RecentInvocation[] {
    const out: RecentInvocation[] = [];
    const limit = filter.limit ?? this.capacity;
    for (let i = 1; i <= this.capacity && out.length < limit; i++) {
      const r = this.ring[(this.next - i + this.capacity) % this.capacity];
      if (!r) continue;
      if (filter.fn !== undefined && r.fn !== filter.fn) continue;
      if (filter.id !== undefined && r.id !== filter.id) continue;
      if (filter.failed && !isFailure(r)) continue;
      out.push(r);
    }
    return out;
  }

  /** Drops a removed function's invocations (its logs are gone, so are the links to them). */
  forget(fn: string): void {
    for (let i = 0; i < this.capacity; i++) if (this.ring[i]?.fn === fn) this.ring[i] = undefined;
  }
}

/** A platform failure, or the function's own 5xx answer. */
export function isFailure(r: RecentInvocation): boolean {
  return r.code !== null || r.status >= 500;
}
