/**
 * What an invocation does between the HTTP server and the invoker, whatever serves it: the
 * target in the URL → the version (alias, traffic split) → CORS (the platform answers preflights)
 * → the function's token check → the invoke → metrics. Two front ends share it:
 *  - the daemon's HTTP server hands `/fn/…` requests to `invoke-listener.ts` as plain Node
 *    requests, so the data plane pays for no Web Request, router or framework context;
 *  - the Hono route (`routes/invoke.ts`) serves the same path to in-process `app.request()`
 *    callers, such as the API contract walk.
 */
import type { Readable } from 'node:stream';
import type { FunctionService } from '../functions/service.ts';
import { invoke, type InvokeResponse } from '../functions/invoker.ts';
import { assertFunctionName } from '../functions/names.ts';
import { VersionNotFound } from '../functions/errors.ts';
import { InvocationOutcomes, UNKNOWN_FUNCTION } from '../functions/outcomes.ts';
import type { VersionRecord } from '../functions/repository.ts';
import { newId } from '../ids.ts';
import type { PlatformMetrics } from '../metrics.ts';
import { applyCors, corsFor, invokeAuth, type TokenStore } from '../auth/index.ts';

/** Where invocations are served: `/fn/<name>[@alias][/<path>][?<query>]`. */
export const INVOKE_PREFIX = '/fn/';

export interface InvokeAccess {
  tokens: TokenStore;
}

/** An invocation as the front ends hand it over. Header names are lower case. */
export interface InvocationCall {
  method: string;
  /** The request target as sent, from `/fn/` on, undecoded: the function sees its path and query byte for byte. */
  target: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The request body, or null for GET and HEAD. */
  body: Readable | null;
  remoteAddress?: string;
  requestId: string;
  /** Sends `100 Continue` to a client that waits for it before sending the body (invoker.ts). */
  sendContinue?: () => void;
}

/** The function's response, or the platform's answer to a CORS preflight. */
export type InvocationAnswer = { preflight: Response } | { preflight?: undefined; response: InvokeResponse };

/** The request id a response carries: the caller's `x-request-id` if it is sane, else a new one. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && /^[A-Za-z0-9_.:-]{1,128}$/.test(header) ? header : newId('req');
}

/** Whether a request target is an invocation (a non-empty name after the prefix). */
export function isInvocationTarget(target: string): boolean {
  return (
    target.startsWith(INVOKE_PREFIX) && target.length > INVOKE_PREFIX.length && target[INVOKE_PREFIX.length] !== '/' && target[INVOKE_PREFIX.length] !== '?'
  );
}

/** Splits `/fn/<name>[@alias]<rest>` into the function, the alias and the path the function sees. */
export function parseInvocationTarget(target: string): { fn: string; alias: string | undefined; path: string } {
  const start = target.indexOf(INVOKE_PREFIX) + INVOKE_PREFIX.length;
  let end = start;
  while (end < target.length && target[end] !== '/' && target[end] !== '?') end++;
  const named = safeDecode(target.slice(start, end));
  const at = named.indexOf('@');
  const fn = assertFunctionName(at === -1 ? named : named.slice(0, at));
  const rest = target.slice(end);
  return { fn, alias: at === -1 ? undefined : named.slice(at + 1), path: rest.startsWith('/') ? rest : `/${rest}` };
}

/** The shared invocation path; errors are thrown as they are (IgnitionErrors map to problems). */
export function invocationGateway(service: FunctionService, metrics?: PlatformMetrics, access?: InvokeAccess) {
  const authorize = access ? invokeAuth(access.tokens) : undefined;
  const outcomes = new InvocationOutcomes(metrics, service.recent);
  return async function serveInvocation(call: InvocationCall): Promise<InvocationAnswer> {
    const started = performance.now();
    let fn: string | undefined;
    let version: VersionRecord | undefined;
    let res: InvokeResponse;
    let cors: Record<string, string>;
    try {
      const target = parseInvocationTarget(call.target);
      fn = target.fn;
      const { alias, path } = target;
      version = service.pickVersion(fn, alias);
      // CORS first: browsers send preflights without credentials; the platform answers them.
      const c = corsFor(version.settings.cors, call);
      if (c instanceof Response) return { preflight: c };
      cors = c;
      authorize?.(fn, version.settings, first(call.headers.authorization));
      const contentLength = first(call.headers['content-length']);
      res = await invoke(service, {
        fn,
        alias,
        method: call.method,
        path,
        headers: call.headers,
        // The platform's token is for the platform: it never reaches function code.
        dropAuthorization: version.settings.auth === 'token',
        body: call.body,
        contentLength: contentLength === undefined ? undefined : Number(contentLength),
        remoteAddress: call.remoteAddress,
        invocationId: call.requestId,
        version,
        sendContinue: call.sendContinue,
        onStreamCut: outcomes.cut,
      });
    } catch (err) {
      // Every platform-side failure counts, from routing (unknown alias) to the handler.
      // version_not_found (no such alias) comes only for a function that exists (service.routes).
      const label = fn !== undefined && (version !== undefined || VersionNotFound.is(err)) ? fn : UNKNOWN_FUNCTION;
      outcomes.failed(label, version?.id ?? null, call.requestId, err, performance.now() - started);
      throw err;
    }
    outcomes.answered(fn, res.version, res.invocationId, res.status, performance.now() - started, res.cold);
    applyCors(res.headers, cors);
    return { response: res };
  };
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
