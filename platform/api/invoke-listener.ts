/**
 * The daemon's HTTP server in front of Hono: invocations (`/fn/…`, the data plane) are served
 * straight from Node's request and response; everything else (the admin API, /healthz, /metrics)
 * goes to the Hono app.
 *
 * Why: an invocation through Hono paid for a Web Request, a router lookup in two apps, a context
 * and a middleware chain, on top of the proxy hop itself: tens of kilobytes allocated per
 * request, so at a thousand requests a second frequent garbage collections, each pausing every
 * request in flight. The invocation itself (`invocation.ts`) is the same code
 * on both paths, and its errors leave through the same problem mapping (`problem.ts`).
 */
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import { isInvocationTarget, requestIdFrom, type InvocationCall, type InvocationAnswer } from './invocation.ts';
import type { Duplex } from 'node:stream';
import { clientErrorFor, problemFor, rawProblemResponse, type ClientError } from './problem.ts';
import { IgnitionError, MethodNotImplemented } from '../errors.ts';

export function withInvocations(serve: (call: InvocationCall) => Promise<InvocationAnswer>, rest: RequestListener, logger: Logger): RequestListener {
  return (req, res) => {
    if (!isInvocationTarget(req.url ?? '')) return rest(req, res);
    void serveNode(serve, req, res, logger);
  };
}

/** Requests whose client waits for `100 Continue` that Node has not sent (`deferContinue`). */
const awaitingContinue = new WeakSet<IncomingMessage>();

/**
 * Takes over `Expect: 100-continue` from Node, which would answer it before the request is even
 * routed: an invocation's client is told to go on only when its body is about to be forwarded
 * (invoker.ts), so one refused first (over the limit, queue full, unauthorized, no such function)
 * never uploads it. Node closes such a connection after the answer, as the body was never sent.
 * Other routes get their 100 Continue at once, as Node would send it.
 */
export function deferContinue(server: Server, listener: RequestListener): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (isInvocationTarget(req.url ?? '')) awaitingContinue.add(req);
    else res.writeContinue();
    listener(req, res);
  });
}

/**
 * Answers what never becomes a request with a problem document and a request id, instead of
 * Node's bare `400 Bad Request`: bytes its parser refuses (an unknown method, a malformed
 * header, headers over the limit), and CONNECT, which Node hands to a `connect` listener only.
 */
export function answerClientErrors(server: Server, logger: Logger): void {
  const answer = (socket: Duplex, err: IgnitionError, cause?: ClientError) => {
    const requestId = requestIdFrom(undefined);
    logger.info('request refused', { code: err.code, detail: err.message, requestId, ...(cause?.code ? { parser: cause.code } : {}) });
    socket.end(rawProblemResponse(err, requestId));
  };
  server.on('clientError', (err: ClientError, socket: Duplex) => {
    // A response under way on this connection (a pipelined request before the bad one) would
    // be corrupted by another one written over it: end the connection instead.
    const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || (current && !current.writableEnded)) {
      socket.destroy();
      return;
    }
    answer(socket, clientErrorFor(err), err);
  });
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    answer(socket, MethodNotImplemented('the method "CONNECT" is not one the daemon implements: it is not a proxy'));
  });
}

async function serveNode(serve: (call: InvocationCall) => Promise<InvocationAnswer>, req: IncomingMessage, res: ServerResponse, logger: Logger): Promise<void> {
  const requestId = requestIdFrom(req.headers['x-request-id']);
  const target = req.url!;
  let answer: InvocationAnswer | undefined;
  try {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    answer = await serve({
      method: req.method!,
      target,
      headers: req.headers,
      body: hasBody ? req : null,
      remoteAddress: req.socket.remoteAddress,
      requestId,
      sendContinue: awaitingContinue.has(req) ? () => res.writeContinue() : undefined,
    });
    if (answer.preflight) {
      const headers: Record<string, string> = { 'x-request-id': requestId };
      answer.preflight.headers.forEach((v, k) => (headers[k] = v));
      res.writeHead(answer.preflight.status, headers).end();
      return;
    }
    const { status, headers, whole } = answer.response;
    // A small body is usually whole by the time its head is read: written at once, with no
    // stream, pipe or listeners in between (and framed by its length, as it is known).
    if (whole !== null) {
      if (res.destroyed) return;
      headers['x-request-id'] = requestId;
      if (headers['content-length'] === undefined) headers['content-length'] = String(whole.length);
      res.writeHead(status, headers);
      res.end(whole);
      return;
    }
    const body = answer.response.body;
    // The client left while the function ran: nothing would read the body, and a pipe into a
    // destroyed response stalls (no 'drain' comes), holding the instance until the timeout.
    if (res.destroyed) {
      body.destroy();
      return;
    }
    headers['x-request-id'] = requestId;
    // Throws on a header Node refuses (the function's own bytes): answered as a problem below.
    res.writeHead(status, headers);
    body.pipe(res);
    // The function's body failed midway (cut at its timeout, or its instance lost): too late for
    // a problem document, so the client sees its connection end early, and the daemon's log says why.
    body.once('error', (err) => {
      logger.warn('response cut', { path: pathOf(target), requestId, status, ...describeCut(err) });
      res.destroy();
    });
    // A client gone mid-response: destroying the function's body ends the call to the agent and
    // releases the instance now, not at the function's timeout. (stream.pipeline does the same,
    // at about 9 KB of allocations per request: an AbortController and end-of-stream watchers.)
    res.once('close', () => {
      if (!res.writableFinished) body.destroy();
    });
  } catch (err) {
    if (answer && !answer.preflight && answer.response.whole === null) answer.response.body.destroy();
    const problem = problemFor(err, pathOf(target), requestId, logger, req.method);
    if (res.headersSent) res.destroy();
    else res.writeHead(problem.status, problem.headers).end(problem.body);
  }
}

/** The target without its query, as logs and problem documents name it. */
export function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** The daemon log's fields for a response body that failed midway. */
export function describeCut(err: unknown): Record<string, unknown> {
  if (err instanceof IgnitionError) return { code: err.code, phase: err.phase, detail: err.message };
  return { detail: (err as Error | undefined)?.message ?? String(err) };
}
