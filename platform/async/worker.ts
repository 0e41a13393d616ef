/**
 * The worker: claims due jobs from the store and runs them through the `invoke` dependency, never
 * more than `concurrency` at once overall nor `perFunction` for one function.
 *
 * It is woken three ways: `notify()` after an enqueue, a timer armed for the earliest `run_at`
 * (retries wait in the table, not in memory), and a poll every `pollMs` as a safety net for rows
 * written by another process. After each attempt the verdict (retry.ts) decides the job's next
 * state, written in one statement; so a SIGKILL at any instant leaves either the old state or the
 * new one, and start-up recovery (JobStore.requeueRunning) handles the rest.
 */
import type { Logger } from '../log.ts';
import { describe } from '../errors.ts';
import type { JobStore } from './jobs.ts';
import type { JobRow } from './schema.ts';
import { backoffDelay, judge, type BackoffPolicy, type InvokeResult } from './retry.ts';
import { InvocationInterrupted } from './errors.ts';

/** One invocation as the worker hands it to the function layer. */
export interface InvokeJob {
  fn: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  invocationId: string;
}

/** The function layer, adapted: resolves with the response or throws an IgnitionError. */
export type InvokeFn = (job: InvokeJob) => Promise<InvokeResult>;

export interface WorkerOptions {
  invoke: InvokeFn;
  logger: Logger;
  concurrency: number;
  perFunction: number;
  backoff: BackoffPolicy;
  resultLimitBytes: number;
  pollMs: number;
  now: () => number;
}

/** Header telling the function which attempt this is (1-based). */
export const ATTEMPT_HEADER = 'x-ignition-attempt';

export class Worker {
  private readonly running = new Map<string, Promise<void>>();
  private readonly perFn = new Map<string, number>();
  /** Jobs given up at a shutdown deadline: whatever they produce later is ignored. */
  private readonly abandoned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private pumping = false;

  constructor(
    private readonly jobs: JobStore,
    private readonly opts: WorkerOptions,
  ) {}

  get active(): number {
    return this.running.size;
  }

  /** Running attempts per function (the store says the same; this is cheaper for metrics). */
  activeByFunction(): Record<string, number> {
    return Object.fromEntries(this.perFn);
  }

  /** Wake up: something may be due now. */
  notify(): void {
    if (this.stopped) return;
    queueMicrotask(() => this.pump());
  }

  private pump(): void {
    if (this.stopped || this.pumping) return;
    this.pumping = true;
    try {
      while (this.running.size < this.opts.concurrency) {
        const job = this.jobs.claim(this.busy());
        if (!job) break;
        this.launch(job);
      }
    } catch (err) {
      this.opts.logger.error('async worker could not claim a job', { err: describe(err) });
    } finally {
      this.pumping = false;
    }
    this.arm();
  }

  /** Functions at their concurrency limit. */
  private busy(): string[] {
    return [...this.perFn].filter(([, n]) => n >= this.opts.perFunction).map(([fn]) => fn);
  }

  /** Sleeps until the earliest due job, or `pollMs`, whichever comes first. */
  private arm(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    let wait = this.opts.pollMs;
    // A function at its limit is woken by its own attempts finishing (notify), not by the timer.
    if (this.running.size < this.opts.concurrency) {
      try {
        const due = this.jobs.nextDue(this.busy());
        if (due !== null) wait = Math.max(0, Math.min(wait, due - this.opts.now()));
      } catch (err) {
        // A store hiccup must not escape a timer callback; the poll tries again.
        this.opts.logger.error('async worker could not read the queue', { err: describe(err) });
      }
    }
    this.timer = setTimeout(() => this.pump(), wait);
    this.timer.unref();
  }

  private launch(job: JobRow): void {
    this.perFn.set(job.fn, (this.perFn.get(job.fn) ?? 0) + 1);
    const done = this.attempt(job).finally(() => {
      this.running.delete(job.id);
      const n = (this.perFn.get(job.fn) ?? 1) - 1;
      if (n > 0) this.perFn.set(job.fn, n);
      else this.perFn.delete(job.fn);
      this.notify();
    });
    this.running.set(job.id, done);
  }

  private async attempt(job: JobRow): Promise<void> {
    const log = this.opts.logger.child({ fn: job.fn, invocation: job.id, attempt: job.attempts });
    const headers = { ...(JSON.parse(job.headers) as Record<string, string>), [ATTEMPT_HEADER]: String(job.attempts) };
    let outcome: { result: InvokeResult } | { error: unknown };
    try {
      outcome = { result: await this.opts.invoke({ fn: job.fn, method: job.method, path: job.path, headers, body: job.body, invocationId: job.id }) };
    } catch (error) {
      outcome = { error };
    }
    if (this.abandoned.delete(job.id)) return;
    try {
      this.record(job, outcome, log);
    } catch (err) {
      // The store failed (disk full, closed): the row stays `running` and recovery re-queues it.
      log.error('async job outcome could not be recorded', { err: describe(err) });
    }
  }

  private record(job: JobRow, outcome: { result: InvokeResult } | { error: unknown }, log: Logger): void {
    const verdict = judge(outcome, job.fn);
    switch (verdict.kind) {
      case 'succeeded':
        this.jobs.finish(job.id, { status: 'succeeded', error: null, result: keep(verdict.result, this.opts.resultLimitBytes) });
        log.debug('async job succeeded', { status: verdict.result.status });
        return;
      case 'rejected':
        this.jobs.finish(job.id, {
          status: 'dead',
          error: { code: 'invocation_rejected', message: `function ${job.fn} answered ${verdict.result.status}; a 4xx is final and is not retried` },
          result: keep(verdict.result, this.opts.resultLimitBytes),
        });
        log.info('async job rejected by the function', { status: verdict.result.status });
        return;
      case 'final':
        this.jobs.finish(job.id, { status: 'dead', error: { code: verdict.code, message: verdict.message } });
        log.warn('async job failed for good', { code: verdict.code });
        return;
      case 'retry': {
        const result = verdict.result ? keep(verdict.result, this.opts.resultLimitBytes) : undefined;
        const error = { code: verdict.code, message: verdict.message };
        if (job.attempts >= job.maxAttempts) {
          this.jobs.finish(job.id, { status: 'dead', error, result });
          log.warn('async job is dead after its last attempt', { code: verdict.code, attempts: job.attempts });
          return;
        }
        const delay = Math.max(verdict.minDelayMs, backoffDelay(job.attempts, this.opts.backoff));
        this.jobs.finish(job.id, { status: 'failed', runAt: this.opts.now() + delay, error, result });
        log.info('async job will be retried', { code: verdict.code, delayMs: delay });
      }
    }
  }

  /** Claims and runs jobs from now on. */
  start(): void {
    this.stopped = false;
    this.notify();
  }

  /**
   * Stops claiming, waits up to `deadlineMs` for running attempts, then gives up on the rest: they
   * go back to the queue at once (their attempt counted) and run again after the next start.
   */
  async close(deadlineMs: number): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.running.size) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)));
    await Promise.race([Promise.allSettled([...this.running.values()]), deadline]);
    clearTimeout(timer);
    const left = [...this.running.keys()];
    if (!left.length) return;
    for (const id of left) this.abandoned.add(id);
    const err = InvocationInterrupted(`the daemon stopped while the attempt was running (gave up after ${deadlineMs} ms)`);
    const moved = this.jobs.requeueRunning(left, { code: err.code, message: err.message });
    this.opts.logger.warn('async jobs still running at shutdown were re-queued', { ...moved, deadlineMs });
  }
}

/** The result as stored: the body cut to `limit` bytes, with its full size. */
function keep(result: InvokeResult, limit: number) {
  const size = result.body.length;
  return { status: result.status, headers: result.headers, body: size > limit ? result.body.subarray(0, limit) : result.body, size, truncated: size > limit };
}
