/**
 * The one place errors become HTTP: RFC 9457 problem+json with a stable `code`.
 *
 * An IgnitionError keeps its status, code, title, message (as `detail`), phase and data fields.
 * Anything else is a bug: it is logged with its stack and answered with a generic 500 that leaks
 * nothing about the internals.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { IgnitionError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  phase?: string;
  requestId?: string;
  [extra: string]: unknown;
}

export const PROBLEM_TYPE_BASE = 'urn:ignition:error:';

export function toProblem(err: unknown, instance?: string): { problem: Problem; known: boolean } {
  if (err instanceof IgnitionError) {
    return {
      known: true,
      problem: {
        ...err.data,
        type: PROBLEM_TYPE_BASE + err.code,
        title: err.title,
        status: err.status,
        detail: err.message,
        code: err.code,
        ...(err.phase ? { phase: err.phase } : {}),
        ...(instance ? { instance } : {}),
      },
    };
  }
  if (err instanceof HTTPException && err.status < 500) {
    const code = err.status === 413 ? 'payload_too_large' : 'bad_request';
    return {
      known: true,
      problem: { type: PROBLEM_TYPE_BASE + code, title: 'Bad request', status: err.status, detail: err.message, code, ...(instance ? { instance } : {}) },
    };
  }
  return {
    known: false,
    problem: {
      type: PROBLEM_TYPE_BASE + 'internal',
      title: 'Internal error',
      status: 500,
      detail: 'The daemon failed while handling this request; see its logs.',
      code: 'internal',
      ...(instance ? { instance } : {}),
    },
  };
}

/** The headers a problem is answered with. */
export function problemHeaders(problem: Problem, extraHeaders: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', ...extraHeaders };
  if (problem.status === 429 || problem.status === 503) headers['retry-after'] = String(problem.retryAfterSeconds ?? 1);
  if (problem.status === 401) headers['www-authenticate'] = 'Bearer realm="ignition"';
  return headers;
}

export function problemResponse(problem: Problem, extraHeaders: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(problem), { status: problem.status, headers: problemHeaders(problem, extraHeaders) });
}

/**
 * A failed request's answer, wherever it is written: the problem for `err` at `path`, its headers
 * and body, logged as a bug (unknown errors, with the stack) or as a failure (known 5xx).
 */
export function problemFor(err: unknown, path: string, requestId: string | undefined, logger: Logger, method?: string) {
  const { problem, known } = toProblem(err, path);
  if (requestId) problem.requestId = requestId;
  if (!known) logger.error('unhandled error', { path, method, requestId, stack: (err as Error | undefined)?.stack, err });
  else if (problem.status >= 500) logger.warn('request failed', { path, code: problem.code, detail: problem.detail, requestId });
  return { status: problem.status, headers: problemHeaders(problem, requestId ? { 'x-request-id': requestId } : {}), body: JSON.stringify(problem) };
}

/** Hono `onError` handler. */
export function onError(logger: Logger) {
  return (err: Error, c: Context) => {
    const p = problemFor(err, c.req.path, c.get('requestId' as never) as string | undefined, logger, c.req.method);
    return new Response(p.body, { status: p.status, headers: p.headers });
  };
}
