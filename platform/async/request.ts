/**
 * Validation of the JSON bodies of `POST …/invocations` and `POST …/crons`. Every rejection is a
 * `bad_request` (or `payload_too_large`) whose message names the field and what is wrong with it.
 */
import { BadRequest, PayloadTooLarge } from '../errors.ts';

export interface InvocationInput {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  maxAttempts?: number;
  idempotencyKey?: string;
}

export interface ParsedInvocation extends InvocationInput {
  async: boolean;
}

export interface CronRequest {
  schedule: string;
  method: string;
  path: string;
  body: Buffer | null;
}

/** An HTTP method token (RFC 9110), upper-cased. */
const METHOD_RE = /^[A-Za-z]{1,16}$/;
/** Header names are tokens; values must not smuggle a line break into the request. */
const HEADER_NAME_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

export function parseMethod(value: unknown, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !METHOD_RE.test(value))
    throw BadRequest(`"method" must be an HTTP method such as GET or POST, not ${JSON.stringify(value)}`);
  return value.toUpperCase();
}

export function parsePath(value: unknown): string {
  if (value === undefined || value === null) return '/';
  if (typeof value !== 'string' || !value.startsWith('/')) throw BadRequest(`"path" must be a string starting with "/", not ${JSON.stringify(value)}`);
  if (value.length > 8192) throw BadRequest('"path" is longer than 8192 characters');
  if (/[\s\0]/.test(value)) throw BadRequest(`"path" ${JSON.stringify(value)} contains whitespace or a NUL byte; percent-encode it`);
  return value;
}

function parseHeaders(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw BadRequest('"headers" must be an object of header names to string values');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (!HEADER_NAME_RE.test(k)) throw BadRequest(`header name ${JSON.stringify(k)} is not a valid HTTP token`);
    if (typeof v !== 'string') throw BadRequest(`header "${k}" must have a string value`);
    if (/[\r\n\0]/.test(v)) throw BadRequest(`header "${k}" contains a line break or NUL byte`);
    out[k.toLowerCase()] = v;
  }
  return out;
}

function parseBody(json: Record<string, unknown>, maxBodyBytes: number): Buffer {
  const { body, bodyBase64 } = json;
  if (body !== undefined && body !== null && bodyBase64 !== undefined && bodyBase64 !== null) throw BadRequest('give "body" or "bodyBase64", not both');
  let buf = Buffer.alloc(0);
  if (body !== undefined && body !== null) {
    if (typeof body !== 'string') throw BadRequest('"body" must be a string (use "bodyBase64" for bytes; serialise JSON yourself)');
    buf = Buffer.from(body, 'utf8');
  } else if (bodyBase64 !== undefined && bodyBase64 !== null) {
    if (typeof bodyBase64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(bodyBase64) || bodyBase64.length % 4 !== 0)
      throw BadRequest('"bodyBase64" must be a base64 string');
    buf = Buffer.from(bodyBase64, 'base64');
  }
  if (buf.length > maxBodyBytes)
    throw PayloadTooLarge(`the invocation body is ${buf.length} bytes; the limit is ${maxBodyBytes} bytes`, { data: { limit: maxBodyBytes } });
  return buf;
}

export function parseInvocation(json: Record<string, unknown>, limits: { maxBodyBytes: number; maxAttempts: number }): ParsedInvocation {
  if (json.async !== undefined && typeof json.async !== 'boolean') throw BadRequest('"async" must be true or false');
  const body = parseBody(json, limits.maxBodyBytes);
  let maxAttempts: number | undefined;
  if (json.maxAttempts !== undefined && json.maxAttempts !== null) {
    const n = json.maxAttempts;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > limits.maxAttempts)
      throw BadRequest(`"maxAttempts" must be a whole number from 1 to ${limits.maxAttempts}, not ${JSON.stringify(n)}`);
    maxAttempts = n;
  }
  let idempotencyKey: string | undefined;
  if (json.idempotencyKey !== undefined && json.idempotencyKey !== null) {
    const k = json.idempotencyKey;
    if (typeof k !== 'string' || k.length === 0 || k.length > 256 || /[\0-\x1f]/.test(k))
      throw BadRequest('"idempotencyKey" must be a string of 1 to 256 printable characters');
    idempotencyKey = k;
  }
  return {
    async: json.async === true,
    method: parseMethod(json.method, body.length ? 'POST' : 'GET'),
    path: parsePath(json.path),
    headers: parseHeaders(json.headers),
    body,
    maxAttempts,
    idempotencyKey,
  };
}

export function parseCronRequest(json: Record<string, unknown>, limits: { maxBodyBytes: number }): CronRequest {
  if (typeof json.schedule !== 'string') throw BadRequest('a cron trigger needs "schedule": a cron expression such as "*/5 * * * *"');
  const body = json.body === undefined || json.body === null ? null : parseBody({ body: json.body }, limits.maxBodyBytes);
  return { schedule: json.schedule, method: parseMethod(json.method, body ? 'POST' : 'GET'), path: parsePath(json.path), body };
}
