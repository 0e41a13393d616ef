/**
 * The fake's HTTP server, written on raw `net` sockets to reproduce micro-http (the HTTP layer of
 * Firecracker) byte for byte, which node:http cannot do:
 *  - status line without reason phrase: `HTTP/1.1 204 \r\n`;
 *  - always `Server: Firecracker API` and `Connection: keep-alive`; Content-Type and
 *    Content-Length only with a body; 204 carries neither;
 *  - bodies read only through Content-Length (chunked is never decoded);
 *  - methods GET, PUT, PATCH, DELETE only; request line and each header line ≤ 1024 bytes;
 *  - a declared body over the payload limit, or any parse error, answers 400 with the transport
 *    error body `{ "error": "<msg>\nAll previous unanswered requests will be dropped." }` (raw
 *    newline: not valid JSON) and drops what was queued on that connection;
 *  - at most 10 connections; the next one gets 503 with `Connection: close`;
 *  - one request at a time across all connections (Firecracker's API thread is serial).
 */
import net from 'node:net';

export interface RawRequest {
  method: string;
  path: string;
  version: string;
  headers: Map<string, string>;
  /** Undefined when the request had no body (no or zero Content-Length). */
  body: Buffer | undefined;
}

export interface RawResponse {
  status: number;
  /** An object is sent as compact JSON. */
  body?: unknown;
  deprecated?: boolean;
  /** Called once the response bytes are flushed (the fake exits after a failed load). */
  after?: () => void;
}

export interface HttpServerOptions {
  maxPayload: number;
  maxConnections?: number;
  handle(req: RawRequest): Promise<RawResponse>;
  /** Sees every byte a client sends (for wire-level tests). */
  onBytes?(chunk: Buffer): void;
  /** A request answered by the transport itself (parse error): its request line as far as it goes. */
  onRejected?(method: string, path: string, message: string): void;
}

const MAX_LINE = 1024;
const TRANSPORT_TAIL = '\nAll previous unanswered requests will be dropped.';
const METHODS = new Set(['GET', 'PUT', 'PATCH', 'DELETE']);

/** Serialises a response exactly as micro-http does. */
export function encodeResponse(status: number, body?: unknown, options: { close?: boolean; deprecated?: boolean } = {}): Buffer {
  let head = `HTTP/1.1 ${status} \r\nServer: Firecracker API\r\nConnection: ${options.close ? 'close' : 'keep-alive'}\r\n`;
  if (options.deprecated) head += 'Deprecation: true\r\n';
  let payload: Buffer | undefined;
  if (body !== undefined) {
    payload = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body), 'utf8');
    head += `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n`;
  }
  head += '\r\n';
  return payload ? Buffer.concat([Buffer.from(head, 'latin1'), payload]) : Buffer.from(head, 'latin1');
}

/** The body of a micro-http parse error (not valid JSON because of the raw newline). */
export function transportErrorBody(message: string): string {
  return `{ "error": "${message}${TRANSPORT_TAIL}" }`;
}

/** The 503 past the connection limit: a plain error body, without the parse errors' tail. */
const TOO_MANY = '{ "error": "Too many open connections" }';

/** Method and path of a request line that may be cut short or malformed. */
function requestLine(buf: Buffer): [string, string] {
  const end = buf.indexOf('\r\n');
  const [method = '', path = ''] = buf
    .subarray(0, end === -1 ? Math.min(buf.length, MAX_LINE) : end)
    .toString('latin1')
    .split(' ');
  return [method, path];
}

type Parsed =
  | { kind: 'request'; request: RawRequest; consumed: number; expectContinue: boolean }
  | { kind: 'error'; message: string; skipBody: number; consumed: number }
  | { kind: 'partial'; expectContinue: boolean };

class ParseError extends Error {}

function parse(buf: Buffer, maxPayload: number, continued: boolean): Parsed {
  const headEnd = buf.indexOf('\r\n\r\n');
  const lines = (headEnd === -1 ? buf : buf.subarray(0, headEnd)).toString('latin1').split('\r\n');
  // Over-long lines are refused as soon as they are seen, complete or not.
  for (const line of lines) if (line.length > MAX_LINE) throw new ParseError('Invalid request: line too long.');
  if (headEnd === -1) return { kind: 'partial', expectContinue: false };
  const [requestLine, ...headerLines] = lines;
  const parts = requestLine.split(' ');
  if (parts.length !== 3) throw new ParseError('Invalid request line.');
  const [method, uri, version] = parts;
  if (!METHODS.has(method)) throw new ParseError(`Invalid HTTP Method: ${method}`);
  if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') throw new ParseError(`Unsupported HTTP version: ${version}`);
  if (!uri.startsWith('/')) throw new ParseError(`Invalid URI: ${uri}`);
  const headers = new Map<string, string>();
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ParseError(`Invalid header: ${line}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  if (headers.get('accept-encoding')?.replace(/\s/g, '') === 'identity;q=0') {
    throw new ParseError('Invalid value. Key:Accept-Encoding; Value: identity;q=0');
  }
  let length = 0;
  const cl = headers.get('content-length');
  if (cl !== undefined) {
    if (!/^\d+$/.test(cl)) throw new ParseError(`Invalid value. Key:Content-Length; Value: ${cl}`);
    length = Number(cl);
  }
  const headBytes = headEnd + 4;
  if (length > maxPayload) {
    return {
      kind: 'error',
      message: `Request payload with size ${length} is larger than the limit of ${maxPayload} allowed by server.`,
      skipBody: length,
      consumed: headBytes,
    };
  }
  const expectContinue = !continued && (headers.get('expect') ?? '').toLowerCase() === '100-continue' && length > 0;
  if (buf.length < headBytes + length) return { kind: 'partial', expectContinue };
  const body = length > 0 ? Buffer.from(buf.subarray(headBytes, headBytes + length)) : undefined;
  const path = uri.split('?')[0];
  return { kind: 'request', request: { method, path, version, headers, body }, consumed: headBytes + length, expectContinue };
}

/** A running fake API server. */
export interface FakeHttpServer {
  server: net.Server;
  /** Number of open client connections. */
  connections(): number;
  close(): Promise<void>;
}

/** Starts the micro-http imitation on `socketPath`; rejects if the path is taken (stale socket). */
export function startHttpServer(socketPath: string, options: HttpServerOptions): Promise<FakeHttpServer> {
  const maxConnections = options.maxConnections ?? 10;
  const sockets = new Set<net.Socket>();
  const rejected = new Set<net.Socket>();
  // Firecracker's API thread handles one request at a time, whichever connection it came from.
  let serial: Promise<unknown> = Promise.resolve();

  const server = net.createServer((socket) => {
    if (sockets.size >= maxConnections) {
      rejected.add(socket);
      socket.on('close', () => rejected.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.end(encodeResponse(503, TOO_MANY, { close: true }));
      return;
    }
    sockets.add(socket);
    let buf = Buffer.alloc(0);
    let skip = 0;
    let continued = false;
    let generation = 0;
    let busy = Promise.resolve();

    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      options.onBytes?.(chunk);
      if (skip > 0) {
        const n = Math.min(skip, chunk.length);
        skip -= n;
        chunk = chunk.subarray(n);
      }
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      pump();
    });

    function pump() {
      while (buf.length > 0) {
        let parsed: Parsed;
        try {
          parsed = parse(buf, options.maxPayload, continued);
        } catch (err) {
          // A parse error answers once and drops everything still buffered on this connection.
          options.onRejected?.(...requestLine(buf), (err as Error).message);
          buf = Buffer.alloc(0);
          generation++;
          reply(encodeResponse(400, transportErrorBody((err as Error).message)));
          return;
        }
        if (parsed.kind === 'partial') {
          if (parsed.expectContinue) {
            continued = true;
            reply(encodeResponse(100));
          }
          return;
        }
        if (parsed.kind === 'error') {
          const available = buf.length - parsed.consumed;
          skip = Math.max(0, parsed.skipBody - available);
          options.onRejected?.(...requestLine(buf), parsed.message);
          buf = Buffer.alloc(0);
          generation++;
          reply(encodeResponse(400, transportErrorBody(parsed.message)));
          return;
        }
        buf = buf.subarray(parsed.consumed);
        // micro-http answers 100 to the Expect header even when the body came along already.
        if (parsed.expectContinue) reply(encodeResponse(100));
        continued = false;
        enqueue(parsed.request);
      }
    }

    function reply(bytes: Buffer, after?: () => void) {
      busy = busy.then(() => {
        if (!socket.destroyed) socket.write(bytes, () => after?.());
        else after?.();
      });
    }

    function enqueue(request: RawRequest) {
      const mine = generation;
      const done = serial.then(() => (mine === generation ? options.handle(request) : undefined));
      serial = done.catch(() => undefined);
      busy = busy.then(async () => {
        let res: RawResponse | undefined;
        try {
          res = await done;
        } catch (err) {
          res = { status: 400, body: { fault_message: `Internal error of the fake: ${(err as Error).message}` } };
        }
        if (!res) return;
        const bytes = encodeResponse(res.status, res.body, { deprecated: res.deprecated });
        await new Promise<void>((resolve) => {
          if (socket.destroyed) resolve();
          else socket.write(bytes, () => resolve());
        });
        res.after?.();
      });
    }
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve({
        server,
        connections: () => sockets.size,
        close: () =>
          new Promise<void>((done) => {
            for (const s of [...sockets, ...rejected]) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
