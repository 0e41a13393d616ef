/**
 * Serves invocations: turns the agent's incoming HTTP request into a Web `Request`, calls the
 * function inside the invocation's logging context, and streams the `Response` back.
 *
 * The Node <-> Web conversion is @hono/node-server's request listener (the fastest one we have).
 * When the function fails, the runtime answers for it with a problem document and the
 * `x-ignition-error` header, so the host can tell "the function answered 500" from "the function
 * threw" and report the phase.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { InvocationHeaders } from '../agent/protocol.ts';
import { invocationStore } from './console.ts';
import type { FunctionContext, LoadedFunction } from './load.ts';

export interface InvokeState {
  fn: LoadedFunction | undefined;
  env: Record<string, string>;
  /** Background work registered with ctx.waitUntil, awaited before shutdown. */
  pending: Set<Promise<unknown>>;
}

export function problemResponse(status: number, code: string, detail: string, stack?: string): Response {
  const body = { type: `urn:ignition:error:${code}`, title: 'Function failed', status, code, detail, phase: 'handler', ...(stack ? { stack } : {}) };
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/problem+json', [InvocationHeaders.error]: code },
  });
}

function isResponse(value: unknown): value is Response {
  if (value instanceof Response) return true;
  // Responses made by another copy of undici (a bundled polyfill) are still Responses.
  const v = value as Record<string, unknown> | null;
  return !!v && typeof v === 'object' && typeof v.status === 'number' && typeof v.headers === 'object' && 'body' in v;
}

export function createInvokeListener(state: InvokeState, prefix: string): (req: IncomingMessage, res: ServerResponse) => void {
  const listener = getRequestListener(async (request: Request) => {
    const fn = state.fn;
    if (!fn) return problemResponse(503, 'function_not_loaded', 'no function is loaded in this instance');
    const invocationId = request.headers.get(InvocationHeaders.id) ?? 'unknown';
    const ctx: FunctionContext = {
      invocationId,
      waitUntil(promise) {
        const p = Promise.resolve(promise)
          .catch((err) => console.error('waitUntil task failed:', err))
          .finally(() => state.pending.delete(p));
        state.pending.add(p);
      },
    };
    return invocationStore.run({ invocationId }, async () => {
      let result: unknown;
      try {
        result = await fn.fetch(request, state.env, ctx);
      } catch (err) {
        const e = err as Error;
        console.error(e?.stack ?? String(err));
        return problemResponse(500, 'function_threw', `the handler threw: ${e?.message ?? String(err)}`, e?.stack);
      }
      if (!isResponse(result)) {
        const got = result === null ? 'null' : typeof result;
        return problemResponse(500, 'function_invalid_response', `the handler returned ${got}, not a Response`);
      }
      return result;
    });
  });
  return (req, res) => {
    req.url = req.url!.slice(prefix.length) || '/';
    if (req.url[0] !== '/') req.url = '/' + req.url;
    void listener(req, res);
  };
}
