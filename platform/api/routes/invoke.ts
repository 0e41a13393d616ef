/**
 * `ANY /fn/<name>/<path…>`: invocation. Method, path, query, headers and body pass through; the
 * response streams back. Under @hono/node-server the function's response is piped straight into
 * the Node response (no Web-stream round trip); elsewhere (in-process `app.request()` tests) it is
 * returned as a Web Response.
 */
import { Hono } from 'hono';
import { Readable } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { FunctionService } from '../../functions/service.ts';
import { invoke } from '../../functions/invoker.ts';
import { assertFunctionName } from '../../functions/names.ts';
import { IgnitionError } from '../../errors.ts';
import type { PlatformMetrics } from '../../metrics.ts';
import { applyCors, corsFor, invokeAuth, type TokenStore } from '../../auth/index.ts';

type NodeBindings = { incoming?: IncomingMessage; outgoing?: ServerResponse };

export interface InvokeAccess {
  tokens: TokenStore;
}

export function invokeRoutes(service: FunctionService, metrics?: PlatformMetrics, access?: InvokeAccess) {
  const authorize = access ? invokeAuth(access.tokens) : undefined;
  const app = new Hono<{ Bindings: NodeBindings; Variables: { requestId: string } }>();

  app.all('/:target{[^/]+}/*', handler);
  app.all('/:target{[^/]+}', handler);

  async function handler(c: import('hono').Context<{ Bindings: NodeBindings; Variables: { requestId: string } }>) {
    // The raw URL, not the decoded param: the function must see its path and query byte for byte.
    const url = c.req.url;
    const start = url.indexOf('/fn/') + 4;
    let end = start;
    while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
    const target = safeDecode(url.slice(start, end)); // `name` or `name@alias`
    const at = target.indexOf('@');
    const fn = assertFunctionName(at === -1 ? target : target.slice(0, at));
    const alias = at === -1 ? undefined : target.slice(at + 1);
    const rest = url.slice(end);
    const path = rest.startsWith('/') ? rest : `/${rest}`;
    const started = performance.now();
    let forwarded: Awaited<ReturnType<typeof forward>>;
    try {
      forwarded = await forward();
    } catch (err) {
      // Every platform-side failure counts, from routing (unknown alias) to the handler.
      if (metrics) {
        const code = err instanceof IgnitionError ? err.code : 'internal';
        metrics.invocationErrors.inc({ function: fn, code });
        metrics.invocations.inc({ function: fn, outcome: 'error', start: 'unknown' });
      }
      throw err;
    }
    if (forwarded instanceof Response) return forwarded; // a CORS preflight answered by the platform
    const { res, cors } = forwarded;

    async function forward() {
      const version = service.pickVersion(fn, alias);
      // CORS first: browsers send preflights without credentials; the platform answers them.
      const cors = corsFor(version.settings.cors, c.req.raw);
      if (cors instanceof Response) return cors;
      authorize?.(fn, version.settings, c.req.header('authorization'));
      const incoming = c.env?.incoming;
      const hasBody = c.req.method !== 'GET' && c.req.method !== 'HEAD';
      const contentLength = c.req.header('content-length');
      const headers: Record<string, string | string[] | undefined> = incoming ? { ...incoming.headers } : Object.fromEntries(c.req.raw.headers);
      // The platform's token is for the platform: it never reaches function code.
      if (version.settings.auth === 'token') delete headers.authorization;
      const body = !hasBody ? null : incoming ? (incoming as Readable) : c.req.raw.body ? Readable.fromWeb(c.req.raw.body as never) : null;
      const res = await invoke(service, {
        fn,
        alias,
        method: c.req.method,
        path,
        headers,
        body,
        contentLength: contentLength === undefined ? undefined : Number(contentLength),
        remoteAddress: incoming?.socket.remoteAddress,
        invocationId: c.get('requestId'),
        version,
      });
      return { res, cors };
    }
    const outgoing = c.env?.outgoing;
    if (metrics) {
      metrics.invocationDuration.observe({ function: fn, version: res.version }, (performance.now() - started) / 1000);
      metrics.invocations.inc({ function: fn, version: res.version, outcome: `${Math.floor(res.status / 100)}xx`, start: res.cold ? 'cold' : 'warm' });
    }
    applyCors(res.headers, cors);
    if (outgoing) {
      outgoing.writeHead(res.status, { ...res.headers, 'x-request-id': c.get('requestId') });
      res.body.on('error', () => outgoing.destroy());
      res.body.pipe(outgoing);
      return RESPONSE_ALREADY_SENT;
    }
    const h = new Headers();
    for (const [k, v] of Object.entries(res.headers)) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
    const nullBody = res.status === 204 || res.status === 304 || c.req.method === 'HEAD';
    if (nullBody) res.body.resume();
    return new Response(nullBody ? null : (Readable.toWeb(res.body) as ReadableStream), { status: res.status, headers: h });
  }

  return app;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
