/**
 * The agent's side of a warm-up (the host's side: platform/guest/warm-up.ts).
 *
 * A new agent process has a cold JIT: on the 2-vCPU host its first ~2,000 invocations cost 3-5x the
 * CPU of later ones (250-600 us against 50-80 us, a third of it V8's background compiler threads).
 * What is cold is mostly not the function but everything around it: Node's HTTP parser and
 * response writer, the Node <-> Web conversion, the invoke listener. A spare agent has no
 * function yet, and a function must never be called with made-up requests; so while the host warms
 * a spare (`PUT /v1/warm-up` ... `DELETE /v1/warm-up`), invocations reach this built-in function
 * instead, through the very path a function's requests take.
 */
import type { LoadedFunction } from '../runtime/load.ts';
import { InvocationHeaders } from './protocol.ts';

export interface WarmUpState {
  /** Invocations the built-in function answered since the agent started. */
  served: number;
}

/**
 * The built-in function: the shapes of response a function usually makes (text, JSON, bytes, no
 * body), reading what a handler usually reads (URL, query, a header, a body).
 */
export function warmUpFunction(state: WarmUpState): LoadedFunction {
  return {
    path: '(warm-up)',
    async fetch(request: Request): Promise<Response> {
      state.served++;
      const url = new URL(request.url);
      const n = Number(url.searchParams.get('n') ?? 0);
      const id = request.headers.get(InvocationHeaders.id) ?? '';
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const body = await request.text();
        return Response.json({ n, id, length: body.length });
      }
      switch (n % 4) {
        case 0:
          return new Response('warm\n', { headers: { 'content-type': 'text/plain; charset=utf-8' } });
        case 1:
          return Response.json({ n, path: url.pathname });
        case 2:
          return new Response(new Uint8Array(32), { headers: { 'content-type': 'application/octet-stream', 'x-warm-up': id } });
        default:
          return new Response(null, { status: 204 });
      }
    },
  };
}
