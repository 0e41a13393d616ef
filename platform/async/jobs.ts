/**
 * Store access for `async_jobs`: every state change of a job is one SQL statement or one
 * transaction, so the file is always a truthful picture of the queue.
 *
 * The claim is a single `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING *`: SQLite runs it under
 * its write lock, so two workers (or a worker and a crashed one's successor) can never both take
 * the same job. Recovery at start-up puts jobs a dead daemon left `running` back in the queue with
 * their attempt counted, which is what makes the queue at-least-once.
 */
import { and, asc, desc, eq, inArray, lt, ne, sql } from 'drizzle-orm';
import type { Store } from '../store/db.ts';
import { jobsTable, type JobKind, type JobRow, type JobStatus } from './schema.ts';

export interface NewJob {
  id: string;
  fn: string;
  kind: JobKind;
  cronId?: string | null;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  maxAttempts: number;
  idempotencyKey?: string | null;
  /** `running` for synchronous invocations, which skip the queue. */
  status?: 'queued' | 'running';
}

/** What an attempt left behind. `status` is where the job goes next. */
export interface AttemptRecord {
  status: Exclude<JobStatus, 'queued' | 'running'>;
  runAt?: number;
  error?: { code: string; message: string } | null;
  result?: { status: number; headers: Record<string, string>; body: Buffer; size: number; truncated: boolean } | null;
}

export class JobStore {
  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  private get db() {
    return this.store.db;
  }

  /**
   * Inserts a job, or returns the existing one when `(fn, idempotencyKey)` was seen before.
   * The check and the insert share one IMMEDIATE transaction so two racing callers agree.
   */
  insert(job: NewJob): { row: JobRow; duplicate: boolean } {
    const t = this.now();
    const run = this.store.sqlite.transaction(() => {
      if (job.idempotencyKey) {
        const existing = this.db
          .select()
          .from(jobsTable)
          .where(and(eq(jobsTable.fn, job.fn), eq(jobsTable.idempotencyKey, job.idempotencyKey)))
          .get();
        if (existing) return { row: existing, duplicate: true };
      }
      const running = job.status === 'running';
      const row = this.db
        .insert(jobsTable)
        .values({
          id: job.id,
          fn: job.fn,
          kind: job.kind,
          cronId: job.cronId ?? null,
          method: job.method,
          path: job.path,
          headers: JSON.stringify(job.headers),
          body: job.body,
          status: running ? 'running' : 'queued',
          attempts: running ? 1 : 0,
          maxAttempts: job.maxAttempts,
          idempotencyKey: job.idempotencyKey ?? null,
          runAt: t,
          createdAt: t,
          updatedAt: t,
          startedAt: running ? t : null,
          resultTruncated: false,
        })
        .returning()
        .get();
      return { row, duplicate: false };
    });
    return run.immediate();
  }

  get(id: string): JobRow | undefined {
    return this.db.select().from(jobsTable).where(eq(jobsTable.id, id)).get();
  }

  /**
   * Atomically moves the oldest due job (skipping functions in `busy`, which are at their
   * concurrency limit) to `running`, counting the attempt. Undefined when nothing is due.
   */
  claim(busy: readonly string[]): JobRow | undefined {
    const t = this.now();
    return this.db
      .update(jobsTable)
      .set({ status: 'running', attempts: sql`${jobsTable.attempts} + 1`, startedAt: t, updatedAt: t })
      .where(
        sql`${jobsTable.id} = (
          SELECT id FROM async_jobs
          WHERE status IN ('queued', 'failed') AND run_at <= ${t}
            AND function NOT IN (SELECT value FROM json_each(${JSON.stringify(busy)}))
          ORDER BY run_at, created_at
          LIMIT 1
        ) AND ${jobsTable.status} IN ('queued', 'failed')`,
      )
      .returning()
      .get();
  }

  /** Records the end of an attempt. Only a job still `running` is touched. */
  finish(id: string, rec: AttemptRecord): void {
    const t = this.now();
    const terminal = rec.status === 'succeeded' || rec.status === 'dead';
    this.db
      .update(jobsTable)
      .set({
        status: rec.status,
        updatedAt: t,
        runAt: rec.runAt ?? t,
        finishedAt: terminal ? t : null,
        ...(rec.error !== undefined ? { errorCode: rec.error?.code ?? null, errorMessage: rec.error?.message ?? null } : {}),
        ...(rec.result !== undefined
          ? {
              resultStatus: rec.result?.status ?? null,
              resultHeaders: rec.result ? JSON.stringify(rec.result.headers) : null,
              resultBody: rec.result?.body ?? null,
              resultSize: rec.result?.size ?? null,
              resultTruncated: rec.result?.truncated ?? false,
            }
          : {}),
      })
      .where(and(eq(jobsTable.id, id), eq(jobsTable.status, 'running')))
      .run();
  }

  /**
   * Puts jobs left `running` (by a killed daemon, or abandoned at a shutdown deadline) back in the
   * queue. The interrupted attempt stays counted; a job out of attempts, or a synchronous one
   * (its caller is gone), is dead instead. Returns how many went each way.
   */
  requeueRunning(ids: readonly string[] | 'all', error: { code: string; message: string }): { queued: number; dead: number } {
    const t = this.now();
    const scope = ids === 'all' ? sql`1` : sql`id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;
    const rows = this.db.all<{ status: string }>(sql`
      UPDATE async_jobs
      SET status = CASE WHEN kind = 'sync' OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
          finished_at = CASE WHEN kind = 'sync' OR attempts >= max_attempts THEN ${t} ELSE NULL END,
          run_at = ${t}, updated_at = ${t}, error_code = ${error.code}, error_message = ${error.message}
      WHERE status = 'running' AND ${scope}
      RETURNING status`);
    return { queued: rows.filter((r) => r.status === 'queued').length, dead: rows.filter((r) => r.status === 'dead').length };
  }

  /** Re-queues a dead job with a fresh set of attempts. False when it is not dead. */
  revive(id: string): boolean {
    const t = this.now();
    const res = this.db
      .update(jobsTable)
      .set({ status: 'queued', attempts: 0, runAt: t, updatedAt: t, finishedAt: null })
      .where(and(eq(jobsTable.id, id), eq(jobsTable.status, 'dead')))
      .run();
    return res.changes === 1;
  }

  /**
   * The earliest `run_at` among jobs that could be claimed (functions in `busy` excluded, or a
   * full function's backlog would look due forever), or null when there is none.
   */
  nextDue(busy: readonly string[] = []): number | null {
    const row = this.db.get<{ t: number | null }>(
      sql`SELECT MIN(run_at) AS t FROM async_jobs WHERE status IN ('queued', 'failed') AND function NOT IN (SELECT value FROM json_each(${JSON.stringify(busy)}))`,
    );
    return row?.t ?? null;
  }

  list(fn: string, opts: { status?: JobStatus; limit: number; excludeSync?: boolean }): JobRow[] {
    const where = [eq(jobsTable.fn, fn)];
    if (opts.status) where.push(eq(jobsTable.status, opts.status));
    if (opts.excludeSync) where.push(ne(jobsTable.kind, 'sync'));
    return this.db
      .select()
      .from(jobsTable)
      .where(and(...where))
      .orderBy(desc(jobsTable.createdAt), desc(jobsTable.id))
      .limit(opts.limit)
      .all();
  }

  /** Rows per (function, status), for metrics. */
  counts(): Array<{ fn: string; status: JobStatus; n: number }> {
    return this.db.all<{ fn: string; status: JobStatus; n: number }>(
      sql`SELECT function AS fn, status, COUNT(*) AS n FROM async_jobs GROUP BY function, status`,
    );
  }

  /** Deletes finished jobs older than `before`; returns how many. */
  prune(before: number): number {
    return this.db
      .delete(jobsTable)
      .where(and(inArray(jobsTable.status, ['succeeded', 'dead']), lt(jobsTable.finishedAt, before)))
      .run().changes;
  }

  /** Deletes a function's jobs that have not started (its removal makes them pointless). */
  dropPending(fn: string): number {
    return this.db
      .delete(jobsTable)
      .where(and(eq(jobsTable.fn, fn), inArray(jobsTable.status, ['queued', 'failed'])))
      .run().changes;
  }

  /** Oldest first, for tests and diagnostics. */
  all(): JobRow[] {
    return this.db.select().from(jobsTable).orderBy(asc(jobsTable.createdAt), asc(jobsTable.id)).all();
  }
}
