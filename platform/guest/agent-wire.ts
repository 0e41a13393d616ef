/**
 * Invocations on the agent's connections, without a second HTTP client: the request head is
 * written from the request the daemon already parsed, the body's bytes are copied (framed by
 * length or chunked), and of the agent's response only the head and the body's framing are
 * parsed (http-wire.ts); its body bytes are handed on as they come.
 *
 * One request at a time per connection, as HTTP/1.1 without pipelining: a connection goes back
 * to the idle list once its response has been read to the end and its request written to the
 * end, and is closed instead when either side broke off, the response was delimited by the
 * close, or the agent asked to close. Idle connections older than `IDLE_MS` are not reused, as the
 * agent closes them at its keep-alive timeout (60 s, agent/server.ts) and one closing under a new
 * request would fail it.
 */
import type net from 'node:net';
import { Readable } from 'node:stream';
import type { AbortLike } from '../deadline.ts';
import { AGENT_PORT, type Machine } from '../vmm/port.ts';
import { AgentProtocolError, ChunkedDecoder, HeadReader, requestHead, type Framing, type ResponseHead } from './http-wire.ts';

/** An idle connection is reused for this long, half the agent's keep-alive timeout. */
const IDLE_MS = 30_000;

export interface AgentRequest {
  method: string;
  /** Lower-case names; `content-length` and `transfer-encoding` are ignored (framing is `bodyLength`'s). */
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Request headers not to forward. */
  omit?: (name: string, value: string | string[]) => boolean;
  /** Headers added (name, value, name, value…), replacing any of the same name. */
  extra?: readonly string[];
  /** Response header names left out of the response's `headers` (hop-by-hop ones). */
  omitResponse?: ReadonlySet<string>;
  body: Readable | null;
  /** The body's length when known; a body without one is sent chunked. */
  bodyLength?: number;
  /** Ends the exchange: the connection is closed, the promise or the body fails with its reason. */
  signal?: AbortLike;
}

export interface AgentResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  /**
   * The whole body when it came in with the head (a small response, the common case): the
   * exchange is over and the connection free. Write it and leave `body` unread, which is then
   * never made; reading `body` instead gives the same bytes.
   */
  whole: Buffer | null;
  /** The body's bytes as the agent sends them, unframed. Destroy it to abandon the response. */
  readonly body: Readable;
}

/** A response whose body streams: the stream is made with the head. */
class StreamedResponse implements AgentResponse {
  readonly whole = null;
  constructor(
    readonly statusCode: number,
    readonly headers: Record<string, string | string[]>,
    readonly body: Readable,
  ) {}
}

/** A response whose body came whole: a stream is made only if someone asks for one. */
class WholeResponse implements AgentResponse {
  private stream: AgentBody | null = null;
  constructor(
    readonly statusCode: number,
    readonly headers: Record<string, string | string[]>,
    readonly whole: Buffer,
  ) {}

  get body(): Readable {
    if (this.stream === null) {
      this.stream = new AgentBody(null);
      this.stream.whole = this.whole;
    }
    return this.stream;
  }
}

const EMPTY = Buffer.alloc(0);

export class AgentConnections {
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();
  private closed = false;

  constructor(private readonly machine: Machine) {}

  /**
   * Sends a request for `target` (from `/` on) and resolves with the response once its head has arrived. Rejects with
   * `bad_request` for a request that cannot be written (nothing was sent), the signal's reason,
   * an `AgentProtocolError` for an answer that is not HTTP/1.1, or the connection's error.
   */
  request(target: string, req: AgentRequest): Promise<AgentResponse> {
    let head: string;
    try {
      head = requestHead(req.method, target, req.headers, req.body === null ? null : (req.bodyLength ?? 'chunked'), req.omit, req.extra);
    } catch (err) {
      return Promise.reject(err);
    }
    if (req.signal?.aborted) return Promise.reject(req.signal.reason);
    const now = performance.now();
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (now - c.idleSince < IDLE_MS && !c.socket.destroyed) return c.exchange(head, req);
      c.socket.destroy();
    }
    return this.machine.connect(AGENT_PORT, { timeoutMs: 2000 }).then((socket) => {
      const c = new Connection(socket, this);
      if (this.closed) socket.destroy();
      else this.open.add(c);
      if (req.signal?.aborted) {
        this.park(c);
        throw req.signal.reason;
      }
      return c.exchange(head, req);
    });
  }

  /** Closes every connection, idle or busy. */
  close(): void {
    this.closed = true;
    for (const c of this.open) c.socket.destroy();
    this.open.clear();
    this.idle.length = 0;
  }

  /** A connection whose exchange ended cleanly, for the next request. */
  park(conn: Connection): void {
    if (this.closed) conn.socket.destroy();
    else this.idle.push(conn);
  }

  forget(conn: Connection): void {
    this.open.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }
}

/** The response body: reading it resumes the connection, destroying it abandons the exchange. */
class AgentBody extends Readable {
  /** A body that came whole (WholeResponse), pushed when read; null for a body that streams. */
  whole: Buffer | null = null;

  constructor(private readonly conn: Connection | null) {
    super();
  }

  override _read(): void {
    if (this.whole !== null) {
      const whole = this.whole;
      this.whole = null;
      if (whole.length > 0) this.push(whole);
      this.push(null);
      return;
    }
    this.conn?.resumeFor(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn?.abandon(this);
    cb(err);
  }
}

/** One connection to the agent; its per-exchange state lives here, as exchanges never overlap. */
class Connection {
  idleSince = 0;
  private busy = false;
  private reader: HeadReader | null = null;
  private decoder: ChunkedDecoder | null = null;
  private framing: Framing = 'none';
  private remaining = 0;
  private keepAlive = false;
  private res: AgentBody | null = null;
  private resDone = false;
  /** While the bytes that came with the head are read: body bytes are held, not pushed. */
  private holding = false;
  private held: Buffer | null = null;
  private reqBody: Readable | null = null;
  private reqChunked = false;
  private reqDone = false;
  private signal: AbortLike | undefined = undefined;
  private resolve: ((res: AgentResponse) => void) | null = null;
  private reject: ((err: unknown) => void) | null = null;

  constructor(
    readonly socket: net.Socket,
    private readonly pool: AgentConnections,
  ) {
    socket.on('data', (chunk: Buffer) => (this.busy ? this.onData(chunk) : socket.destroy()));
    socket.on('drain', () => {
      if (this.busy && !this.reqDone) this.reqBody?.resume();
    });
    socket.on('end', () => this.onEnd());
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => {
      pool.forget(this);
      this.fail(new Error('the agent closed the connection'));
    });
    socket.resume();
  }

  exchange(head: string, req: AgentRequest): Promise<AgentResponse> {
    this.busy = true;
    this.reader = new HeadReader(req.method, req.omitResponse);
    this.decoder = null;
    this.res = null;
    this.resDone = false;
    this.keepAlive = false;
    const promise = new Promise<AgentResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.signal = req.signal;
    req.signal?.addEventListener('abort', this.onAbort);
    this.socket.write(head, 'latin1');
    const body = req.body;
    this.reqBody = body;
    this.reqDone = body === null;
    if (body !== null) {
      this.reqChunked = req.bodyLength === undefined;
      body.on('data', this.onReqData);
      body.on('end', this.onReqEnd);
      body.on('error', this.onReqError);
      body.on('close', this.onReqClose);
    }
    return promise;
  }

  resumeFor(body: AgentBody): void {
    if (this.res === body && !this.resDone) this.socket.resume();
  }

  /** The response body was destroyed by its reader before its end: the connection cannot be reused. */
  abandon(body: AgentBody): void {
    if (this.res === body && !this.resDone) this.fail(new Error('the response was abandoned'));
  }

  private readonly onAbort = () => this.fail(this.signal?.reason ?? new Error('aborted'));

  private readonly onReqData = (chunk: Buffer) => {
    let ok: boolean;
    if (this.reqChunked) {
      if (chunk.length === 0) return;
      this.socket.cork();
      this.socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      this.socket.write(chunk);
      ok = this.socket.write('\r\n', 'latin1');
      this.socket.uncork();
    } else ok = this.socket.write(chunk);
    if (!ok) this.reqBody?.pause();
  };

  private readonly onReqEnd = () => {
    if (this.reqChunked) this.socket.write('0\r\n\r\n', 'latin1');
    this.reqDone = true;
    this.detachRequest();
    if (this.resDone) this.finish();
  };

  private readonly onReqError = (err: Error) => this.fail(err);

  private readonly onReqClose = () => {
    if (!this.reqDone) this.fail(new Error('the request body ended before its end'));
  };

  private onData(chunk: Buffer): void {
    try {
      if (this.reader !== null) {
        const got = this.reader.feed(chunk);
        if (got === null) return;
        this.reader = null;
        this.start(got.head, got.rest);
        return;
      }
      this.body(chunk);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /**
   * The head is in: the body bytes that came with it are read before the response is handed
   * on, so a body that is already whole is handed on as one buffer, without a stream.
   */
  private start(head: ResponseHead, rest: Buffer): void {
    this.framing = head.framing;
    this.remaining = head.length;
    this.keepAlive = head.keepAlive;
    if (head.framing === 'chunked') this.decoder = new ChunkedDecoder();
    if (head.framing === 'none' || (head.framing === 'length' && head.length === 0)) {
      if (rest.length > 0) this.keepAlive = false;
    } else if (rest.length > 0) {
      this.holding = true;
      this.body(rest);
      this.holding = false;
    }
    const held = this.held;
    this.held = null;
    const resolve = this.resolve!;
    this.resolve = this.reject = null;
    if (this.resDone || (head.framing === 'length' && head.length === 0)) {
      // The body is all in (endResponse ran while holding), or there is none to wait for.
      if (!this.resDone) this.endResponse();
      resolve(new WholeResponse(head.status, head.headers, held ?? EMPTY));
      return;
    }
    const res = new AgentBody(this);
    this.res = res;
    if (held !== null) this.push(held);
    resolve(new StreamedResponse(head.status, head.headers, res));
    if (head.framing === 'none') this.endResponse();
  }

  private body(chunk: Buffer): void {
    switch (this.framing) {
      case 'length': {
        if (chunk.length > this.remaining) {
          this.keepAlive = false;
          chunk = chunk.subarray(0, this.remaining);
        }
        this.remaining -= chunk.length;
        this.push(chunk);
        if (this.remaining === 0) this.endResponse();
        return;
      }
      case 'chunked': {
        const end = this.decoder!.decode(chunk, this.push);
        if (end !== -1) {
          if (end < chunk.length) this.keepAlive = false;
          this.endResponse();
        }
        return;
      }
      case 'close':
        this.push(chunk);
        return;
      default:
        // Bytes after a response without a body: the agent is out of step.
        this.keepAlive = false;
    }
  }

  private readonly push = (data: Buffer) => {
    if (this.holding) this.held = this.held === null ? data : Buffer.concat([this.held, data]);
    else if (!this.res!.push(data)) this.socket.pause();
  };

  private onEnd(): void {
    if (this.busy && this.res !== null && this.framing === 'close' && !this.resDone) {
      this.endResponse();
      return;
    }
    this.fail(new Error(this.res === null ? 'the agent closed the connection without answering' : 'the agent closed the connection before the response ended'));
  }

  private endResponse(): void {
    this.resDone = true;
    if (this.res !== null) this.res.push(null);
    if (this.reqDone) this.finish();
    else {
      // The function answered without reading the whole request: what is left of it is dropped
      // (read and discarded, so the client can read the answer) and the connection closed.
      this.keepAlive = false;
      const body = this.reqBody!;
      this.detachRequest();
      body.resume();
      this.finish();
    }
  }

  private finish(): void {
    this.busy = false;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
    this.res = null;
    this.decoder = null;
    if (this.keepAlive && !this.socket.destroyed) {
      this.socket.resume();
      this.idleSince = performance.now();
      this.pool.park(this);
    } else this.socket.destroy();
  }

  private fail(err: unknown): void {
    if (!this.busy) return;
    this.busy = false;
    this.signal?.removeEventListener('abort', this.onAbort);
    this.signal = undefined;
    this.detachRequest();
    this.socket.destroy();
    const reject = this.reject;
    const res = this.res;
    this.resolve = this.reject = null;
    this.res = null;
    this.reader = null;
    this.decoder = null;
    this.holding = false;
    this.held = null;
    if (reject !== null) reject(err);
    else if (res !== null && !this.resDone) res.destroy(err as Error);
  }

  private detachRequest(): void {
    const body = this.reqBody;
    if (body === null) return;
    this.reqBody = null;
    body.off('data', this.onReqData);
    body.off('end', this.onReqEnd);
    body.off('error', this.onReqError);
    body.off('close', this.onReqClose);
  }
}

export { AgentProtocolError };
