/**
 * Tables of async invocations and cron triggers.
 *
 * `async_jobs` is the queue and the history at once: one row per invocation (async, cron-fired or
 * synchronous), whose `status` moves queued → running → succeeded | failed (a retry is due at
 * `run_at`) | dead. The request is stored whole (headers as JSON, body as a BLOB) so a restarted
 * daemon can replay it; the result is stored truncated to a configurable size.
 *
 * `async_crons` holds one row per trigger with its next due time, so a restart knows what it
 * missed without replaying a calendar.
 */
import { blob, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { Migration } from '../store/db.ts';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'dead';
export type JobKind = 'async' | 'sync' | 'cron';

export const jobsTable = sqliteTable('async_jobs', {
  id: text('id').primaryKey(),
  fn: text('function').notNull(),
  kind: text('kind').$type<JobKind>().notNull(),
  cronId: text('cron_id'),
  method: text('method').notNull(),
  path: text('path').notNull(),
  /** JSON object of string header values. */
  headers: text('headers').notNull(),
  body: blob('body', { mode: 'buffer' }).notNull(),
  status: text('status').$type<JobStatus>().notNull(),
  attempts: integer('attempts').notNull(),
  maxAttempts: integer('max_attempts').notNull(),
  idempotencyKey: text('idempotency_key'),
  /** When the job may next be claimed (enqueue time, or the retry time after a failure). */
  runAt: integer('run_at').notNull(),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
  startedAt: integer('started_at'),
  finishedAt: integer('finished_at'),
  errorCode: text('error_code'),
  errorMessage: text('error_message'),
  resultStatus: integer('result_status'),
  resultHeaders: text('result_headers'),
  resultBody: blob('result_body', { mode: 'buffer' }),
  /** The full size of the function's response body, before truncation. */
  resultSize: integer('result_size'),
  resultTruncated: integer('result_truncated', { mode: 'boolean' }).notNull(),
});

export type JobRow = typeof jobsTable.$inferSelect;

export const cronsTable = sqliteTable('async_crons', {
  id: text('id').primaryKey(),
  fn: text('function').notNull(),
  schedule: text('schedule').notNull(),
  method: text('method').notNull(),
  path: text('path').notNull(),
  body: blob('body', { mode: 'buffer' }),
  enabled: integer('enabled', { mode: 'boolean' }).notNull(),
  lastFiredAt: integer('last_fired_at'),
  nextAt: integer('next_at').notNull(),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export type CronRow = typeof cronsTable.$inferSelect;

export const asyncMigrations: Migration[] = [
  {
    id: 'async-001',
    sql: `
      CREATE TABLE async_jobs (
        id TEXT PRIMARY KEY,
        function TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('async', 'sync', 'cron')),
        cron_id TEXT,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        max_attempts INTEGER NOT NULL,
        idempotency_key TEXT,
        run_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        error_code TEXT,
        error_message TEXT,
        result_status INTEGER,
        result_headers TEXT,
        result_body BLOB,
        result_size INTEGER,
        result_truncated INTEGER NOT NULL DEFAULT 0
      );
      -- The claim query: the oldest due job among queued and retry-pending ones.
      CREATE INDEX async_jobs_due ON async_jobs (status, run_at);
      CREATE INDEX async_jobs_by_function ON async_jobs (function, status, created_at);
      CREATE UNIQUE INDEX async_jobs_idempotency ON async_jobs (function, idempotency_key) WHERE idempotency_key IS NOT NULL;

      CREATE TABLE async_crons (
        id TEXT PRIMARY KEY,
        function TEXT NOT NULL,
        schedule TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        body BLOB,
        enabled INTEGER NOT NULL DEFAULT 1,
        last_fired_at INTEGER,
        next_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE INDEX async_crons_due ON async_crons (enabled, next_at);
      CREATE INDEX async_crons_by_function ON async_crons (function);
    `,
  },
];
