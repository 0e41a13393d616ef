/**
 * Cron triggers: rows in `async_crons`, each with the time it is next due. A timer sleeps until
 * the earliest `next_at`; when it fires, every due trigger enqueues one async job (so retries and
 * dead letters apply to scheduled runs too) and moves its `next_at` to the first slot after NOW.
 *
 * Computing from now rather than from the missed slot is the catch-up rule: a trigger whose time
 * passed while the daemon was down fires once at start-up, not once per missed slot. The enqueue
 * and the move share a transaction, and the job's idempotency key names the slot, so a crash
 * between the two can neither lose the run nor double it.
 *
 * A paused trigger (`enabled` false) is skipped by the due query, by `fire` and by the timer. On
 * resume its next run is the first slot after the resume: slots that passed while it was paused
 * are skipped, not caught up (pausing is a decision, unlike a daemon being down). Runs already
 * queued when it was paused still run.
 */
import { asc, eq, sql } from 'drizzle-orm';
import { describe } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/db.ts';
import { CronSchedule } from './cron.ts';
import { CronNotFound } from './errors.ts';
import type { JobStore } from './jobs.ts';
import { cronsTable, type CronRow } from './schema.ts';

export interface CronInput {
  schedule: string;
  method: string;
  path: string;
  body?: Buffer | null;
}

/** Headers every cron-fired job carries, so a function can tell scheduled runs apart. */
export const CRON_HEADER = 'x-ignition-cron';
export const CRON_TIME_HEADER = 'x-ignition-cron-time';

/** The timer never sleeps longer than this, so a wall-clock jump is noticed within a minute. */
const MAX_SLEEP_MS = 60_000;

export class CronScheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;

  constructor(
    private readonly store: Store,
    private readonly jobs: JobStore,
    private readonly opts: { now: () => number; logger: Logger; maxAttempts: number; onFired: () => void },
  ) {}

  /** Creates a trigger; the expression is parsed first, so a bad one throws `cron_invalid`. */
  add(fn: string, input: CronInput): CronRow {
    const schedule = CronSchedule.parse(input.schedule);
    const t = this.opts.now();
    const row = this.store.db
      .insert(cronsTable)
      .values({
        id: newId('cron'),
        fn,
        schedule: schedule.expression,
        method: input.method,
        path: input.path,
        body: input.body ?? null,
        enabled: true,
        lastFiredAt: null,
        nextAt: schedule.next(new Date(t)).getTime(),
        createdAt: t,
        updatedAt: t,
      })
      .returning()
      .get();
    this.arm();
    return row;
  }

  list(fn: string): CronRow[] {
    return this.store.db.select().from(cronsTable).where(eq(cronsTable.fn, fn)).orderBy(asc(cronsTable.createdAt), asc(cronsTable.id)).all();
  }

  get(id: string): CronRow {
    const row = this.store.db.select().from(cronsTable).where(eq(cronsTable.id, id)).get();
    if (!row) throw CronNotFound(`no cron trigger "${id}"`, { data: { id } });
    return row;
  }

  remove(id: string): CronRow {
    const row = this.get(id);
    this.store.db.delete(cronsTable).where(eq(cronsTable.id, id)).run();
    return row;
  }

  /** Pauses a trigger: it fires no more until resumed. Pausing a paused trigger changes nothing. */
  pause(id: string): CronRow {
    const row = this.get(id);
    if (!row.enabled) return row;
    const updated = this.store.db.update(cronsTable).set({ enabled: false, updatedAt: this.opts.now() }).where(eq(cronsTable.id, id)).returning().get();
    this.arm();
    return updated;
  }

  /**
   * Resumes a paused trigger; its next run is the first slot after now. Resuming an active trigger
   * changes nothing.
   */
  resume(id: string): CronRow {
    const row = this.get(id);
    if (row.enabled) return row;
    const t = this.opts.now();
    const nextAt = CronSchedule.parse(row.schedule).next(new Date(t)).getTime();
    const updated = this.store.db.update(cronsTable).set({ enabled: true, nextAt, updatedAt: t }).where(eq(cronsTable.id, id)).returning().get();
    this.arm();
    return updated;
  }

  /** Deletes every trigger of a function (when the function is removed). */
  removeFunction(fn: string): number {
    return this.store.db.delete(cronsTable).where(eq(cronsTable.fn, fn)).run().changes;
  }

  start(): void {
    this.stopped = false;
    this.tick();
  }

  /** Fires every due trigger once, then sleeps until the next one. Returns how many fired. */
  tick(): number {
    if (this.stopped) return 0;
    let fired = 0;
    try {
      const t = this.opts.now();
      const due = this.store.db.all<{ id: string }>(sql`SELECT id FROM async_crons WHERE enabled = 1 AND next_at <= ${t} ORDER BY next_at`);
      for (const { id } of due) if (this.fire(id, t)) fired++;
    } catch (err) {
      this.opts.logger.error('cron scheduler failed', { err: describe(err) });
    }
    if (fired) this.opts.onFired();
    this.arm();
    return fired;
  }

  private fire(id: string, t: number): boolean {
    const run = this.store.sqlite.transaction(() => {
      const row = this.store.db.select().from(cronsTable).where(eq(cronsTable.id, id)).get();
      if (!row || !row.enabled || row.nextAt > t) return false;
      const slot = row.nextAt;
      this.jobs.insert({
        id: newId('inv'),
        fn: row.fn,
        kind: 'cron',
        cronId: row.id,
        method: row.method,
        path: row.path,
        headers: { [CRON_HEADER]: row.id, [CRON_TIME_HEADER]: new Date(slot).toISOString() },
        body: row.body ?? Buffer.alloc(0),
        maxAttempts: this.opts.maxAttempts,
        idempotencyKey: `cron:${row.id}:${slot}`,
      });
      const next = CronSchedule.parse(row.schedule).next(new Date(t)).getTime();
      this.store.db.update(cronsTable).set({ lastFiredAt: t, nextAt: next, updatedAt: t }).where(eq(cronsTable.id, id)).run();
      this.opts.logger.info('cron trigger fired', { cron: row.id, fn: row.fn, slot: new Date(slot).toISOString(), missed: t - slot > 60_000 });
      return true;
    });
    return run.immediate();
  }

  /** Re-arms the timer for the earliest trigger (called after every change). */
  arm(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    let wait = MAX_SLEEP_MS;
    try {
      const row = this.store.db.get<{ t: number | null }>(sql`SELECT MIN(next_at) AS t FROM async_crons WHERE enabled = 1`);
      if (row?.t != null) wait = Math.max(0, Math.min(MAX_SLEEP_MS, row.t - this.opts.now()));
    } catch (err) {
      // A store hiccup must not escape a timer callback; try again within a minute.
      this.opts.logger.error('cron scheduler could not read its triggers', { err: describe(err) });
    }
    this.timer = setTimeout(() => this.tick(), wait);
    this.timer.unref();
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
