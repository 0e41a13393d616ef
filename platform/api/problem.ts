/**
 * The one place errors become HTTP: RFC 9457 problem+json with a stable `code`.
 *
 * An IgnitionError keeps its status, code, title, message (as `detail`), phase and data fields.
 * Anything else is a bug: it is logged with its stack and answered with a generic 500 that leaks
 * nothing about the internals.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { STATUS_CODES } from 'node:http';
import { BadRequest, HeadersTooLarge, IgnitionError, MethodNotImplemented, PayloadTooLarge, RequestTimeout } from '../errors.ts';
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

/** What Node's HTTP server reports on a connection whose bytes are not a request it can serve. */
export interface ClientError extends Error {
  code?: string;
  /** llhttp's reason, e.g. "Invalid header value char". */
  reason?: string;
  /** The bytes the parser stopped at, when it has them. */
  rawPacket?: Buffer;
}

/**
 * A request Node's parser refused, as the platform's error: an unknown method is 501 (RFC 9110
 * §9.1: the method is not one the server implements, which is not the client's syntax error), a
 * header section over the limit 431, a client too slow to send its request 408, anything else
 * malformed 400. The statuses are those Node itself answers with, bare, without a listener.
 */
export function clientErrorFor(err: ClientError): IgnitionError {
  switch (err.code) {
    case 'HPE_INVALID_METHOD': {
      const method = methodOf(err.rawPacket);
      return MethodNotImplemented(method ? `the method "${method}" is not one the daemon implements` : 'the request method is not one the daemon implements');
    }
    case 'HPE_HEADER_OVERFLOW':
      return HeadersTooLarge('the request headers exceed the size the daemon accepts');
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return PayloadTooLarge('the chunk extensions of the request body exceed the size the daemon accepts');
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return RequestTimeout('the request was not received in time');
    default:
      return BadRequest(`the request is not valid HTTP/1.1: ${err.reason ?? err.code ?? err.message}`);
  }
}

/** The method a refused request started with, if it looks like one (printable, short). */
function methodOf(raw: Buffer | undefined): string | undefined {
  if (!raw) return undefined;
  const m = /^([\x21-\x7e]{1,32}) /.exec(raw.subarray(0, 40).toString('latin1'));
  return m?.[1];
}

/**
 * A problem as the bytes of a whole HTTP/1.1 response, for a socket that has no ServerResponse
 * (Node's `clientError` and `connect` events). The connection closes after it.
 */
export function rawProblemResponse(err: IgnitionError, requestId: string): string {
  const { problem } = toProblem(err);
  problem.requestId = requestId;
  const body = JSON.stringify(problem);
  const headers = { ...problemHeaders(problem, { 'x-request-id': requestId }), 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
  let head = `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return `${head}\r\n${body}`;
}

/** Hono `onError` handler. */
export function onError(logger: Logger) {
  return (err: Error, c: Context) => {
    const p = problemFor(err, c.req.path, c.get('requestId' as never) as string | undefined, logger, c.req.method);
    return new Response(p.body, { status: p.status, headers: p.headers });
  };
}
