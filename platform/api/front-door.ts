/**
 * The daemon's listening socket. Invocations in plain HTTP/1.1 are read and answered here, on the
 * connection's bytes; every other request, and every connection once it has carried one, goes to
 * Node's HTTP server, which serves the admin API, the console, /healthz and /metrics, and the
 * invocations this door leaves to it (`invoke-listener.ts`: chunked uploads, `Expect:
 * 100-continue`, HTTP/1.0, anything malformed, which it refuses as it always has).
 *
 * Why: a warm invocation crosses the daemon on its way to the agent, and on a host where the
 * load generator, the daemon and the instance share the cores, requests/s follows the CPU each
 * request costs. Node's server spends most of the daemon's share on objects this path does not
 * need: an IncomingMessage and a ServerResponse per request (two streams), header objects
 * validated and serialised again, 'finish' and 'close' bookkeeping. Here a request is one parse
 * of its head (request-head.ts) into the header object the invocation path already takes, and a
 * response is one string for its head and one write. docs/DATA-PLANE.md has what each way
 * measured.
 *
 * The platform's duties are the same on both paths, since both hand the request to the same
 * gateway (`invocation.ts`: routing, aliases and weights, CORS, auth, ids, metrics, timeouts,
 * body limits, queueing) and answer its errors through the same problem mapping (`problem.ts`).
 */
import net from 'node:net';
import { STATUS_CODES, type Server } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from '../log.ts';
import { requestIdFrom, type InvocationAnswer, type InvocationCall } from './invocation.ts';
import { BAD_VALUE, MAX_REQUEST_HEAD, parseRequestHead, type RequestHead } from './request-head.ts';
import { problemFor } from './problem.ts';
import { describeCut, pathOf } from './invoke-listener.ts';

/** Node's default `keepAliveTimeout`: an idle connection is closed after it. */
const KEEP_ALIVE_MS = 5000;
/** Bytes of pipelined requests held while one is served before the socket stops being read. */
const MAX_PENDING = 64 * 1024;
/** Said on every response that keeps its connection, as Node's server says it. */
const KEEP_ALIVE = `connection: keep-alive\r\nkeep-alive: timeout=${KEEP_ALIVE_MS / 1000}\r\n`;

export type Serve = (call: InvocationCall) => Promise<InvocationAnswer>;

export class FrontDoor {
  readonly server: net.Server;
  private readonly conns = new Set<FrontConnection>();
  private readonly sweeper: NodeJS.Timeout;
  closing = false;

  constructor(
    readonly serve: Serve,
    /** Node's server, not listening: it is handed the connections this door does not serve. */
    readonly http: Server,
    readonly logger: Logger,
    /** How long an idle connection is kept (tests shorten it). */
    private readonly keepAliveMs = KEEP_ALIVE_MS,
  ) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      const c = new FrontConnection(socket, this);
      this.conns.add(c);
    });
    // One timer for every connection's keep-alive, instead of a timer re-armed per request.
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, keepAliveMs / 2)).unref();
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        // Node's server starts its list of connections and the timer that enforces
        // headersTimeout and requestTimeout on 'listening'. It never listens itself, so it is
        // told here: the connections it is handed get the same limits as if it had accepted them.
        this.http.emit('listening');
        resolve();
      });
    });
  }

  /** Stops accepting; `done` runs once every connection, served here or by Node, has ended. */
  close(done: () => void): void {
    this.closing = true;
    clearInterval(this.sweeper);
    this.server.close(() => done());
  }

  closeIdleConnections(): void {
    for (const c of this.conns) if (!c.busy) c.socket.destroy();
    this.http.closeIdleConnections();
  }

  closeAllConnections(): void {
    for (const c of this.conns) c.socket.destroy();
    this.http.closeAllConnections();
  }

  forget(c: FrontConnection): void {
    this.conns.delete(c);
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.conns) if (!c.busy && now - c.idleSince > this.keepAliveMs) c.socket.destroy();
  }
}

/** A request body with a declared length, pushed from the connection's bytes as they arrive. */
class RequestBody extends Readable {
  constructor(private readonly conn: FrontConnection) {
    super();
  }

  override _read(): void {
    this.conn.socket.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn.bodyGone(this);
    // A body no one reads yet (its request still queued for an instance) must not throw an
    // unhandled 'error' when its client leaves; it still ends destroyed before its end, which is
    // how the invoker tells that the client left. (Node's IncomingMessage does the same.)
    cb(this.listenerCount('error') > 0 ? err : null);
  }
}

class FrontConnection {
  busy = false;
  idleSince = performance.now();
  /** Bytes received and not yet parsed (the next request's head, pipelined). */
  private pending: Buffer | null = null;
  /** Bytes of the current request's body still to come; dropped when `body` is null. */
  private bodyLeft = 0;
  private body: RequestBody | null = null;
  /** The client ended its side, or asked for the connection to close, or the daemon is closing. */
  private closeAfter = false;
  private readonly remoteAddress: string | undefined;
  /** A response body being written, to be abandoned if the client leaves. */
  private streaming: Readable | null = null;

  constructor(
    readonly socket: net.Socket,
    private readonly door: FrontDoor,
  ) {
    this.remoteAddress = socket.remoteAddress;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private readonly onData = (chunk: Buffer) => {
    if (this.bodyLeft > 0) {
      const take = Math.min(this.bodyLeft, chunk.length);
      this.bodyLeft -= take;
      const part = take === chunk.length ? chunk : chunk.subarray(0, take);
      const body = this.body;
      if (body !== null) {
        if (!body.push(part)) this.socket.pause();
        if (this.bodyLeft === 0) {
          this.body = null;
          body.push(null);
        }
      }
      if (take === chunk.length) {
        if (this.bodyLeft === 0 && !this.busy) this.next();
        return;
      }
      chunk = chunk.subarray(take);
    }
    // Bytes after a request that closes the connection are not requests this door will serve.
    if (this.closeAfter) return;
    this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.busy) this.next();
    else if (this.pending.length > MAX_PENDING) this.socket.pause();
  };

  /** Serves the next request in `pending`, or hands the connection to Node's server. */
  private next(): void {
    const pending = this.pending;
    if (pending === null || this.busy || this.bodyLeft > 0 || this.closeAfter) return;
    const end = pending.indexOf('\r\n\r\n', 0, 'latin1');
    // A head still arriving, or too long, or not an invocation this door takes: Node's server
    // reads these bytes afresh, with its own limits and timeouts, and keeps the connection.
    const head = end === -1 || end > MAX_REQUEST_HEAD ? null : parseRequestHead(pending.toString('latin1', 0, end));
    if (head === null) {
      this.handOver();
      return;
    }
    this.pending = end + 4 === pending.length ? null : pending.subarray(end + 4);
    this.start(head);
  }

  private start(head: RequestHead): void {
    this.busy = true;
    if (head.close) this.closeAfter = true;
    const requestId = requestIdFrom(head.headers['x-request-id']);
    // As Node's path: every method but GET and HEAD has a body, empty when none was declared.
    const hasBody = head.method !== 'GET' && head.method !== 'HEAD';
    let body: RequestBody | null = null;
    if (hasBody) body = new RequestBody(this);
    if (head.contentLength > 0) {
      this.bodyLeft = head.contentLength;
      this.body = body;
      const rest = this.pending;
      this.pending = null;
      if (rest !== null) this.onData(rest);
    } else body?.push(null);
    const call: InvocationCall = { method: head.method, target: head.target, headers: head.headers, body, remoteAddress: this.remoteAddress, requestId };
    this.door
      .serve(call)
      .then(
        (answer) => this.respond(head, requestId, answer),
        (err: unknown) => this.fail(head, requestId, err),
      )
      .catch((err: unknown) => {
        // A fault in writing the answer itself: the connection cannot be trusted to be in step.
        this.door.logger.error('response failed', { path: pathOf(head.target), requestId, stack: (err as Error | undefined)?.stack });
        this.socket.destroy();
      });
  }

  private respond(head: RequestHead, requestId: string, answer: InvocationAnswer): void {
    if (this.socket.destroyed) {
      if (!answer.preflight && answer.response.whole === null) answer.response.body.destroy();
      return;
    }
    if (answer.preflight) {
      const headers: Record<string, string> = {};
      answer.preflight.headers.forEach((v, k) => (headers[k] = v));
      this.socket.write(this.headOf(answer.preflight.status, headers, requestId, 0, false), 'latin1');
      this.done();
      return;
    }
    const { status, headers, whole } = answer.response;
    const noBody = head.method === 'HEAD' || status === 204 || status === 304;
    if (whole !== null) {
      let text: string;
      try {
        text = this.headOf(status, headers, requestId, noBody ? -1 : whole.length, false);
      } catch (err) {
        this.fail(head, requestId, err);
        return;
      }
      if (noBody || whole.length === 0) this.socket.write(text, 'latin1');
      else {
        this.socket.cork();
        this.socket.write(text, 'latin1');
        this.socket.write(whole);
        this.socket.uncork();
      }
      this.done();
      return;
    }
    this.stream(head, requestId, status, headers, answer.response.body, noBody);
  }

  /** A body still arriving from the instance: forwarded as it comes, chunked unless its length is known. */
  private stream(head: RequestHead, requestId: string, status: number, headers: Record<string, string | string[]>, body: Readable, noBody: boolean): void {
    const chunked = !noBody && headers['content-length'] === undefined;
    let text: string;
    try {
      text = this.headOf(status, headers, requestId, -1, chunked);
    } catch (err) {
      body.destroy();
      this.fail(head, requestId, err);
      return;
    }
    this.socket.write(text, 'latin1');
    const socket = this.socket;
    this.streaming = body;
    const onDrain = () => body.resume();
    socket.on('drain', onDrain);
    body.on('data', (chunk: Buffer) => {
      let ok: boolean;
      if (noBody || chunk.length === 0) return;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(chunk);
      if (!ok) body.pause();
    });
    body.once('end', () => {
      socket.off('drain', onDrain);
      this.streaming = null;
      if (chunked) socket.write('0\r\n\r\n', 'latin1');
      this.done();
    });
    // The function's body failed midway (cut at its timeout, or its instance lost): too late for
    // a problem document, so the client sees its connection end early, and the daemon's log says why.
    body.once('error', (err) => {
      socket.off('drain', onDrain);
      this.streaming = null;
      this.door.logger.warn('response cut', { path: pathOf(head.target), requestId, status, ...describeCut(err) });
      socket.destroy();
    });
  }

  private fail(head: RequestHead, requestId: string, err: unknown): void {
    const problem = problemFor(err, pathOf(head.target), requestId, this.door.logger, head.method);
    if (this.socket.destroyed) return;
    const body = Buffer.from(problem.body);
    this.socket.cork();
    this.socket.write(this.headOf(problem.status, problem.headers, requestId, body.length, false), 'latin1');
    this.socket.write(body);
    this.socket.uncork();
    this.done();
  }

  /**
   * The response head: status line, the headers as given (arrays as one line each), the request
   * id, and the framing: `length` ≥ 0 adds a content-length unless the headers have one; -1 adds
   * none. Throws for a header value a response cannot carry, which is the function's doing.
   */
  private headOf(status: number, headers: Record<string, string | string[]>, requestId: string, length: number, chunked: boolean): string {
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    for (const name in headers) {
      if (name === 'x-request-id') continue;
      const value = headers[name];
      if (typeof value === 'string') text += headerLine(name, value);
      else for (const v of value) text += headerLine(name, v);
    }
    text += `x-request-id: ${requestId}\r\n`;
    if (length >= 0 && headers['content-length'] === undefined) text += `content-length: ${length}\r\n`;
    if (chunked) text += 'transfer-encoding: chunked\r\n';
    const close = this.closeAfter || this.door.closing || this.bodyLeft > 0;
    return `${text}${close ? 'connection: close\r\n' : KEEP_ALIVE}\r\n`;
  }

  /** The response is written: the connection serves its next request, or closes. */
  private done(): void {
    this.busy = false;
    this.idleSince = performance.now();
    // A body the function did not read to its end is not read on: the connection ends with it.
    if (this.closeAfter || this.door.closing || this.bodyLeft > 0) {
      // Ended on the daemon's side only: what the client still sends is read and dropped, so its
      // connection is not reset before it has read the answer.
      this.closeAfter = true;
      this.socket.end();
      return;
    }
    if (this.socket.isPaused() && this.body === null) this.socket.resume();
    this.next();
  }

  /** Node's server takes the connection from here on, starting with the bytes not yet parsed. */
  private handOver(): void {
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
    this.door.forget(this);
    socket.pause();
    if (this.pending !== null) socket.unshift(this.pending);
    this.pending = null;
    this.door.http.emit('connection', socket);
    // Node's parser reads new bytes from the handle itself; resuming now hands it the unshifted
    // ones first, before the event loop can deliver anything newer.
    socket.resume();
  }

  /** The consumer of the request body destroyed it: the rest of the body is dropped as it comes. */
  bodyGone(body: RequestBody): void {
    if (this.body === body) this.body = null;
    if (this.socket.isPaused()) this.socket.resume();
  }

  /**
   * The client ended its side. An answer it waits for is still written (a client may half-close
   * after its request), but a response body under way is abandoned, as Node's server abandons it.
   */
  private readonly onEnd = () => {
    this.clientGone('the client ended its side of the connection before the request body');
    this.closeAfter = true;
    if (this.streaming !== null) this.socket.destroy();
    else if (!this.busy) this.socket.end();
  };

  private readonly onError = () => this.socket.destroy();

  private readonly onClose = () => {
    this.door.forget(this);
    this.clientGone('the client closed the connection before the request body ended');
    // A client gone mid-response: destroying the function's body ends the call to the agent and
    // releases the instance now, not at the function's timeout.
    this.streaming?.destroy();
    this.streaming = null;
  };

  private clientGone(reason: string): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    this.bodyLeft = 0;
    body.destroy(new Error(reason));
  }
}

function headerLine(name: string, value: string): string {
  if (BAD_VALUE.test(value)) throw new TypeError(`the function's response header ${name} holds a character HTTP cannot carry`);
  return `${name}: ${value}\r\n`;
}
