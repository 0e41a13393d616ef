/**
 * The async capability as one object: durable async invocations (queue, worker, retries, dead
 * letters), synchronous invocations recorded in the same table, and cron triggers.
 *
 * `AsyncService.open` applies the async migrations to the given store, re-queues what a killed
 * daemon left running, prunes old history, and starts the worker and the cron timer. `close`
 * stops the timers, lets running attempts finish until a deadline and re-queues the rest; it does
 * not close the store, which belongs to the caller. The function layer is reached only through
 * two dependencies: `invoke` (run one request, throw an IgnitionError on platform failure) and
 * `exists` (is there such a function), so this folder never imports the function service.
 */
import { IgnitionError, ShuttingDown } from '../errors.ts';
import { newId } from '../ids.ts';
import { silentLogger, type Logger } from '../log.ts';
import { applyMigrations, type Store } from '../store/db.ts';
import { FunctionNotFound } from '../functions/errors.ts';
import { InvocationInterrupted, InvocationNotFound, InvocationNotRetryable } from './errors.ts';
import { JobStore } from './jobs.ts';
import { DEFAULT_BACKOFF, judge, type BackoffPolicy, type InvokeResult } from './retry.ts';
import type { InvocationInput } from './request.ts';
import { CronScheduler, type CronInput } from './scheduler.ts';
import { asyncMigrations, type JobStatus } from './schema.ts';
import { cronView, invocationView, type CronView, type InvocationView } from './views.ts';
import { Worker, type InvokeFn } from './worker.ts';

export interface AsyncServiceOptions {
  /** The daemon's database (the async migrations are applied to it if missing). */
  store: Store;
  invoke: InvokeFn;
  /** Whether a function exists; unknown ones are refused with `function_not_found`. */
  exists: (fn: string) => boolean;
  logger?: Logger;
  /** Attempts running at once, overall (default 16) and per function (default 4). */
  concurrency?: number;
  perFunctionConcurrency?: number;
  /** Attempts per job unless the request says otherwise (default 3), and the most it may ask (default 25). */
  maxAttempts?: number;
  maxAttemptsLimit?: number;
  backoff?: Partial<BackoffPolicy>;
  /** Stored result bodies are cut to this many bytes (default 1 MiB). */
  resultLimitBytes?: number;
  /** Largest accepted invocation body (default 6 MiB). */
  maxBodyBytes?: number;
  /** Finished jobs are deleted after this long (default 7 days). */
  retentionMs?: number;
  /** The worker's safety-net poll (default 1 s). */
  pollMs?: number;
  /** The clock used for due times and timestamps (tests move it; timers stay real). */
  now?: () => number;
}

export interface AsyncStats {
  /** Jobs waiting to run (queued or retry-pending), per function. */
  queueDepth: Record<string, number>;
  /** Jobs per status over the whole table. */
  byStatus: Record<JobStatus, number>;
  /** Attempts running now, per function. */
  running: Record<string, number>;
}

const DAY = 24 * 60 * 60_000;

export class AsyncService {
  readonly jobs: JobStore;
  readonly limits: { maxBodyBytes: number; maxAttempts: number; defaultMaxAttempts: number };
  private readonly worker: Worker;
  private readonly crons: CronScheduler;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly inflightSync = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  private constructor(private readonly opts: AsyncServiceOptions) {
    this.logger = (opts.logger ?? silentLogger).child({ component: 'async' });
    this.now = opts.now ?? Date.now;
    this.retentionMs = opts.retentionMs ?? 7 * DAY;
    const defaultMaxAttempts = opts.maxAttempts ?? 3;
    this.limits = {
      maxBodyBytes: opts.maxBodyBytes ?? 6 * 1024 * 1024,
      maxAttempts: Math.max(opts.maxAttemptsLimit ?? 25, defaultMaxAttempts),
      defaultMaxAttempts,
    };
    this.jobs = new JobStore(opts.store, this.now);
    this.worker = new Worker(this.jobs, {
      invoke: opts.invoke,
      logger: this.logger,
      concurrency: opts.concurrency ?? 16,
      perFunction: opts.perFunctionConcurrency ?? 4,
      backoff: { ...DEFAULT_BACKOFF, ...opts.backoff },
      resultLimitBytes: opts.resultLimitBytes ?? 1024 * 1024,
      pollMs: opts.pollMs ?? 1000,
      now: this.now,
    });
    this.crons = new CronScheduler(opts.store, this.jobs, {
      now: this.now,
      logger: this.logger,
      maxAttempts: defaultMaxAttempts,
      onFired: () => this.worker.notify(),
    });
  }

  /** Migrates, recovers interrupted jobs, prunes, and starts the worker and the cron timer. */
  static open(opts: AsyncServiceOptions): AsyncService {
    applyMigrations(opts.store.sqlite, asyncMigrations);
    const service = new AsyncService(opts);
    const err = InvocationInterrupted('the daemon stopped while the attempt was running');
    const recovered = service.jobs.requeueRunning('all', { code: err.code, message: err.message });
    if (recovered.queued || recovered.dead) service.logger.warn('re-queued async jobs a previous daemon left running', recovered);
    service.prune();
    service.worker.start();
    service.crons.start();
    return service;
  }

  private assertOpen() {
    if (this.closing) throw ShuttingDown('the daemon is shutting down and accepts no new invocations');
  }

  private assertFunction(fn: string) {
    if (!this.opts.exists(fn)) throw FunctionNotFound(`no function "${fn}"`, { data: { function: fn } });
  }

  /** Accepts an async invocation: committed to the store before this returns. */
  enqueue(fn: string, input: InvocationInput): { invocation: InvocationView; duplicate: boolean } {
    this.assertOpen();
    this.assertFunction(fn);
    const { row, duplicate } = this.jobs.insert({
      id: newId('inv'),
      fn,
      kind: 'async',
      method: input.method,
      path: input.path,
      headers: input.headers,
      body: input.body,
      maxAttempts: input.maxAttempts ?? this.limits.defaultMaxAttempts,
      idempotencyKey: input.idempotencyKey,
    });
    if (!duplicate) this.worker.notify();
    return { invocation: invocationView(row), duplicate };
  }

  /**
   * Runs an invocation now, outside the queue, and records it (the stored result is truncated, the
   * returned response is whole). The function's own response, whatever its status, resolves; a
   * platform failure is recorded and rethrown with the invocation id in its data.
   */
  async invokeNow(fn: string, input: InvocationInput): Promise<{ invocation: InvocationView; response: InvokeResult }> {
    this.assertOpen();
    this.assertFunction(fn);
    const { row } = this.jobs.insert({
      id: newId('inv'),
      fn,
      kind: 'sync',
      method: input.method,
      path: input.path,
      headers: input.headers,
      body: input.body,
      maxAttempts: 1,
      status: 'running',
    });
    const run = this.opts.invoke({ fn, method: row.method, path: row.path, headers: input.headers, body: input.body, invocationId: row.id });
    this.inflightSync.add(run);
    let outcome: { result: Awaited<typeof run> } | { error: unknown };
    try {
      outcome = { result: await run };
    } catch (error) {
      outcome = { error };
    } finally {
      this.inflightSync.delete(run);
    }
    const verdict = judge(outcome, fn);
    const limit = this.opts.resultLimitBytes ?? 1024 * 1024;
    const r = 'result' in outcome ? outcome.result : undefined;
    const error =
      verdict.kind === 'succeeded'
        ? null
        : verdict.kind === 'rejected'
          ? { code: 'invocation_rejected', message: `function ${fn} answered ${verdict.result.status}` }
          : { code: verdict.code, message: verdict.message };
    try {
      this.jobs.finish(row.id, {
        status: verdict.kind === 'succeeded' ? 'succeeded' : 'dead',
        error,
        result: r
          ? {
              status: r.status,
              headers: r.headers,
              body: r.body.length > limit ? r.body.subarray(0, limit) : r.body,
              size: r.body.length,
              truncated: r.body.length > limit,
            }
          : null,
      });
    } catch (err) {
      // The store is gone (closed at shutdown): the caller still gets its answer; recovery marks the row.
      this.logger.warn('a synchronous invocation could not be recorded', { invocation: row.id, err });
    }
    if ('error' in outcome) {
      if (outcome.error instanceof IgnitionError) outcome.error.data.invocation = row.id;
      throw outcome.error;
    }
    return { invocation: invocationView(this.jobs.get(row.id) ?? row), response: outcome.result };
  }

  get(id: string): InvocationView {
    const row = this.jobs.get(id);
    if (!row) throw InvocationNotFound(`no invocation "${id}"`, { data: { id } });
    return invocationView(row);
  }

  list(fn: string, opts: { status?: JobStatus; limit?: number } = {}): InvocationView[] {
    this.assertFunction(fn);
    return this.jobs.list(fn, { status: opts.status, limit: opts.limit ?? 100 }).map(invocationView);
  }

  /** Dead async and cron jobs of a function, newest first (synchronous ones had a caller to tell). */
  deadLetters(fn: string, limit = 100): InvocationView[] {
    this.assertFunction(fn);
    return this.jobs.list(fn, { status: 'dead', limit, excludeSync: true }).map(invocationView);
  }

  /** Re-queues a dead job with a fresh set of attempts. */
  retry(id: string): InvocationView {
    this.assertOpen();
    const row = this.jobs.get(id);
    if (!row) throw InvocationNotFound(`no invocation "${id}"`, { data: { id } });
    if (!this.jobs.revive(id))
      throw InvocationNotRetryable(`invocation "${id}" is ${row.status}; only a dead invocation can be retried`, { data: { id, status: row.status } });
    this.worker.notify();
    return invocationView(this.jobs.get(id)!);
  }

  addCron(fn: string, input: CronInput): CronView {
    this.assertFunction(fn);
    return cronView(this.crons.add(fn, input));
  }

  listCrons(fn: string): CronView[] {
    this.assertFunction(fn);
    return this.crons.list(fn).map(cronView);
  }

  getCron(id: string): CronView {
    return cronView(this.crons.get(id));
  }

  /** Stops a trigger from firing until it is resumed (`cron_not_found` for an unknown id). */
  pauseCron(id: string): CronView {
    return cronView(this.crons.pause(id));
  }

  /** Lets a paused trigger fire again, from the first slot after now. */
  resumeCron(id: string): CronView {
    return cronView(this.crons.resume(id));
  }

  removeCron(id: string): CronView {
    const row = this.crons.remove(id);
    this.crons.arm();
    return cronView(row);
  }

  /** Forgets a removed function: its triggers and its jobs that have not started. */
  removeFunction(fn: string): { crons: number; jobs: number } {
    const crons = this.crons.removeFunction(fn);
    const jobs = this.jobs.dropPending(fn);
    this.crons.arm();
    return { crons, jobs };
  }

  /** Re-reads due times now (after the clock moved, or rows were written by another process). */
  wake(): void {
    this.crons.tick();
    this.worker.notify();
  }

  stats(): AsyncStats {
    const byStatus: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, dead: 0 };
    const queueDepth: Record<string, number> = {};
    for (const { fn, status, n } of this.jobs.counts()) {
      byStatus[status] += n;
      if (status === 'queued' || status === 'failed') queueDepth[fn] = (queueDepth[fn] ?? 0) + n;
    }
    return { queueDepth, byStatus, running: this.worker.activeByFunction() };
  }

  /** Deletes finished jobs past the retention, then again every hour. */
  private prune() {
    try {
      const n = this.jobs.prune(this.now() - this.retentionMs);
      if (n) this.logger.info('pruned finished async jobs', { count: n });
    } catch (err) {
      this.logger.warn('pruning async jobs failed', { err });
    }
    if (this.closing) return;
    this.pruneTimer = setTimeout(() => this.prune(), 60 * 60_000);
    this.pruneTimer.unref();
  }

  /**
   * Stops the cron timer and the worker, waits up to `deadlineMs` for running attempts (and
   * synchronous invocations) and re-queues whatever is still running. Idempotent. Close this
   * before the function layer (running attempts need it) and before the store.
   */
  close(deadlineMs = 10_000): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.pruneTimer);
      this.crons.close();
      let timer: NodeJS.Timeout | undefined;
      await Promise.all([
        this.worker.close(deadlineMs),
        Promise.race([Promise.allSettled([...this.inflightSync]), new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)))]).finally(() =>
          clearTimeout(timer),
        ),
      ]);
    })();
    return this.closing;
  }
}
