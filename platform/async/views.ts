/**
 * How jobs and triggers look in the API: ISO timestamps, the request summarised, the result body
 * as text when it is valid UTF-8 and as base64 otherwise (a cut in the middle of a multi-byte
 * character counts as otherwise), and the status URL a client polls.
 */
import type { CronRow, JobRow } from './schema.ts';

export interface InvocationView {
  id: string;
  function: string;
  kind: string;
  cronId: string | null;
  status: string;
  attempts: number;
  maxAttempts: number;
  request: { method: string; path: string };
  idempotencyKey: string | null;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** When a queued or retry-pending job becomes eligible to run. */
  nextAttemptAt: string | null;
  lastError: { code: string; message: string } | null;
  result: { status: number; headers: Record<string, string>; body?: string; bodyBase64?: string; size: number; truncated: boolean } | null;
  statusUrl: string;
}

const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());

export function statusUrl(id: string): string {
  return `/v1/invocations/${encodeURIComponent(id)}`;
}

export function invocationView(row: JobRow): InvocationView {
  const waiting = row.status === 'queued' || row.status === 'failed';
  return {
    id: row.id,
    function: row.fn,
    kind: row.kind,
    cronId: row.cronId,
    status: row.status,
    attempts: row.attempts,
    maxAttempts: row.maxAttempts,
    request: { method: row.method, path: row.path },
    idempotencyKey: row.idempotencyKey,
    createdAt: iso(row.createdAt)!,
    updatedAt: iso(row.updatedAt)!,
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    nextAttemptAt: waiting ? iso(row.runAt) : null,
    lastError: row.errorCode ? { code: row.errorCode, message: row.errorMessage ?? '' } : null,
    result:
      row.resultStatus === null
        ? null
        : {
            status: row.resultStatus,
            headers: row.resultHeaders ? (JSON.parse(row.resultHeaders) as Record<string, string>) : {},
            ...encodeBody(row.resultBody ?? Buffer.alloc(0)),
            size: row.resultSize ?? 0,
            truncated: row.resultTruncated,
          },
    statusUrl: statusUrl(row.id),
  };
}

/** `{ body }` when the bytes are valid UTF-8, `{ bodyBase64 }` otherwise. */
export function encodeBody(buf: Buffer): { body: string } | { bodyBase64: string } {
  const text = buf.toString('utf8');
  return Buffer.byteLength(text) === buf.length && Buffer.from(text, 'utf8').equals(buf) ? { body: text } : { bodyBase64: buf.toString('base64') };
}

export interface CronView {
  id: string;
  function: string;
  schedule: string;
  method: string;
  path: string;
  /** False while the trigger is paused. */
  enabled: boolean;
  lastFiredAt: string | null;
  /** When it fires next; null while it is paused (resuming picks the first slot after the resume). */
  nextAt: string | null;
  createdAt: string;
}

export function cronView(row: CronRow): CronView {
  return {
    id: row.id,
    function: row.fn,
    schedule: row.schedule,
    method: row.method,
    path: row.path,
    enabled: row.enabled,
    lastFiredAt: iso(row.lastFiredAt),
    nextAt: row.enabled ? iso(row.nextAt)! : null,
    createdAt: iso(row.createdAt)!,
  };
}
