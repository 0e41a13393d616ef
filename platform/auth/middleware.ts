/**
 * Auth at the edges of the API.
 *
 * `adminAuth` guards `/v1/*`: only an admin token passes. Every way of failing (no header, not a
 * Bearer header, an unknown, malformed or revoked token) ends in the same 401 with the same detail
 * and `WWW-Authenticate: Bearer`, so the answer never tells a prober which check failed. A valid
 * token of the wrong scope gets 403 `forbidden`: its holder already proved who they are.
 *
 * `invokeAuth` is the check the invoke route runs once it knows the function's settings: `none`
 * lets everyone in, `token` wants an admin token, or an invoke token for that function or for all.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { problemResponse, toProblem } from '../api/problem.ts';
import { isIgnitionError } from '../errors.ts';
import { Forbidden, Unauthorized, UNAUTHORIZED_DETAIL } from './errors.ts';
import type { FunctionAccessSettings } from './settings.ts';
import type { TokenRecord, TokenStore } from './tokens.ts';

/** The challenge sent with every 401 (RFC 6750 §3). */
export const WWW_AUTHENTICATE = 'Bearer realm="ignition"';

/** The token in an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(authorization: string | undefined | null): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(authorization);
  return m ? m[1] : undefined;
}

/** The verified record behind an Authorization header; throws `unauthorized` otherwise. */
export function authenticate(store: TokenStore, authorization: string | undefined | null): TokenRecord {
  const token = bearerToken(authorization);
  const record = token === undefined ? null : store.verify(token);
  if (!record) throw Unauthorized(UNAUTHORIZED_DETAIL);
  return record;
}

export interface AdminAuthOptions {
  /** Paths under the guarded prefix that stay public (e.g. `/v1/openapi.json`). Exact matches. */
  publicPaths?: string[];
}

/**
 * Hono middleware for `app.use('/v1/*', adminAuth(tokens))`. On success the record is on
 * `c.get('token')` for handlers that audit who did what.
 */
export function adminAuth(store: TokenStore, options: AdminAuthOptions = {}): MiddlewareHandler {
  const open = new Set(options.publicPaths ?? []);
  return async function requireAdminToken(c, next) {
    if (open.has(c.req.path)) return next();
    let record: TokenRecord;
    try {
      record = authenticate(store, c.req.header('authorization'));
      if (record.scope !== 'admin')
        throw Forbidden(`token ${record.id} has scope "${record.scope}"; the admin API needs an admin token`, { data: { tokenId: record.id } });
    } catch (err) {
      if (isIgnitionError(err)) return authProblem(c, err);
      throw err;
    }
    c.set('token' as never, record as never);
    await next();
  };
}

/**
 * A 401/403 answered here rather than left to `onError`, because the 401 must carry
 * `WWW-Authenticate`. The document is the one `onError` would build (request id included).
 */
function authProblem(c: Context, err: Error): Response {
  const { problem } = toProblem(err, c.req.path);
  const requestId = c.get('requestId' as never) as string | undefined;
  if (requestId) problem.requestId = requestId;
  const headers: Record<string, string> = requestId ? { 'x-request-id': requestId } : {};
  if (problem.status === 401) headers['www-authenticate'] = WWW_AUTHENTICATE;
  return problemResponse(problem, headers);
}

/** Whether `record` may invoke `fn`. */
export function mayInvoke(record: TokenRecord, fn: string): boolean {
  return record.scope === 'admin' || (record.scope === 'invoke' && (record.function === null || record.function === fn));
}

/**
 * The invocation check. Call it with the function's name, its settings and the request's
 * Authorization header; it returns the token record (or null for public functions) and throws
 * `unauthorized` (401) or `forbidden` (403). The invoke route must then drop the Authorization
 * header before forwarding, so the platform token never reaches function code.
 */
export function invokeAuth(store: TokenStore) {
  return function authorizeInvocation(fn: string, settings: FunctionAccessSettings, authorization: string | undefined | null): TokenRecord | null {
    if ((settings.auth ?? 'none') === 'none') return null;
    const record = authenticate(store, authorization);
    if (!mayInvoke(record, fn)) {
      throw Forbidden(`token ${record.id} may not invoke function "${fn}"`, { data: { tokenId: record.id, function: fn } });
    }
    return record;
  };
}
