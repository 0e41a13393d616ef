/**
 * The retry policy, as pure functions: which outcomes are final, and how long to wait before the
 * next attempt.
 *
 * An attempt succeeds on any status below 400. A 4xx is the function saying the request itself is
 * wrong, so repeating it cannot help: the job is dead at once; except 408 and 429, which say "not
 * now" and are retried no sooner than the response's Retry-After. A 5xx and every platform failure
 * (timeout, crash, no instance, queue full…) are worth another try, except the few platform codes
 * that describe the request rather than the moment (unknown function, body too large).
 *
 * Back-off is exponential with jitter: attempt n waits base·factorⁿ⁻¹ capped at max, then moved by
 * up to ±jitter of itself so that a burst of jobs failing together does not retry in lockstep.
 */
import { IgnitionError } from '../errors.ts';

export interface BackoffPolicy {
  baseMs: number;
  factor: number;
  maxMs: number;
  /** Fraction of the delay added or removed at random (0.2 → ±20 %). */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1000, factor: 2, maxMs: 5 * 60_000, jitter: 0.2 };

/** Platform codes that describe the request, not the moment: retrying them cannot succeed. */
export const FINAL_CODES: ReadonlySet<string> = new Set(['function_not_found', 'version_not_found', 'payload_too_large', 'bad_request', 'invalid_name']);

/** The wait before the attempt after `attempt` (1-based) failed. `random` is injectable for tests. */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const raw = Math.min(policy.maxMs, policy.baseMs * policy.factor ** Math.max(0, attempt - 1));
  const jittered = raw * (1 + policy.jitter * (2 * random() - 1));
  return Math.max(0, Math.round(Math.min(policy.maxMs, jittered)));
}

export interface InvokeResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type Verdict =
  | { kind: 'succeeded'; result: InvokeResult }
  /** 4xx: final, the job is dead with its response kept. */
  | { kind: 'rejected'; result: InvokeResult }
  /** 5xx or a transient platform error: retried while attempts remain. */
  | { kind: 'retry'; result?: InvokeResult; code: string; message: string; minDelayMs: number }
  /** A platform error about the request itself: dead at once. */
  | { kind: 'final'; code: string; message: string };

/** Classifies what one attempt produced: a response, or the error `invoke` threw. */
export function judge(outcome: { result: InvokeResult } | { error: unknown }, fn: string): Verdict {
  if ('result' in outcome) {
    const { result } = outcome;
    if (result.status < 400) return { kind: 'succeeded', result };
    // 408 and 429 say "not now" rather than "never": retried, no sooner than Retry-After.
    if (result.status === 408 || result.status === 429) {
      const after = Number(result.headers['retry-after']);
      return {
        kind: 'retry',
        result,
        code: 'function_error_status',
        message: `function ${fn} answered ${result.status}`,
        minDelayMs: Number.isFinite(after) && after > 0 ? after * 1000 : 0,
      };
    }
    if (result.status < 500) return { kind: 'rejected', result };
    return { kind: 'retry', result, code: 'function_error_status', message: `function ${fn} answered ${result.status}`, minDelayMs: 0 };
  }
  const err = outcome.error;
  if (err instanceof IgnitionError) {
    if (FINAL_CODES.has(err.code)) return { kind: 'final', code: err.code, message: err.message };
    // A full queue may say when to come back; never retry sooner than that.
    const after = Number(err.data.retryAfterSeconds);
    return { kind: 'retry', code: err.code, message: err.message, minDelayMs: Number.isFinite(after) && after > 0 ? after * 1000 : 0 };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { kind: 'retry', code: 'internal', message: `invoking ${fn} failed: ${message}`, minDelayMs: 0 };
}
