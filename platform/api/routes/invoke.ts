/**
 * `ANY /fn/<name>/<path…>` for in-process callers (`app.request()`: the API contract walk and
 * tests): the Web Request in, the function's response out as a Web Response. The daemon's HTTP
 * server does not come here: it hands invocations to `../invoke-listener.ts` before Hono sees
 * them. Both go through the same gateway (`../invocation.ts`).
 */
import { Hono } from 'hono';
import { Readable } from 'node:stream';
import type { FunctionService } from '../../functions/service.ts';
import type { PlatformMetrics } from '../../metrics.ts';
import { invocationGateway, INVOKE_PREFIX, type InvokeAccess } from '../invocation.ts';

export type { InvokeAccess } from '../invocation.ts';

export function invokeRoutes(service: FunctionService, metrics?: PlatformMetrics, access?: InvokeAccess) {
  const serve = invocationGateway(service, metrics, access);
  const app = new Hono<{ Variables: { requestId: string } }>();

  app.all('/:target{[^/]+}/*', handler);
  app.all('/:target{[^/]+}', handler);

  async function handler(c: import('hono').Context<{ Variables: { requestId: string } }>) {
    const req = c.req.raw;
    // The raw URL, not the decoded params: the function must see its path and query byte for byte.
    const url = req.url;
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const answer = await serve({
      method: req.method,
      target: url.slice(url.indexOf(INVOKE_PREFIX)),
      headers: Object.fromEntries(req.headers),
      body: hasBody && req.body ? Readable.fromWeb(req.body as never) : null,
      requestId: c.get('requestId'),
    });
    if (answer.preflight) return answer.preflight;
    const res = answer.response;
    const h = new Headers();
    for (const [k, v] of Object.entries(res.headers)) for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
    const nullBody = res.status === 204 || res.status === 304 || req.method === 'HEAD';
    if (nullBody) res.body.resume();
    return new Response(nullBody ? null : (Readable.toWeb(res.body) as ReadableStream), { status: res.status, headers: h });
  }

  return app;
}
