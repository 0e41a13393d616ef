/**
 * The daemon's front door (platform/api/front-door.ts) on a real TCP socket, with Node's HTTP
 * server behind it for what it hands over and a scripted gateway in place of the invocation
 * path: keep-alive, pipelining, hand-over mid-connection, request bodies (split, dropped, cut
 * short), every response framing, errors as problems, clients that leave, idle connections and
 * shutdown.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import { FrontDoor } from '../../platform/api/front-door.ts';
import type { InvocationAnswer, InvocationCall } from '../../platform/api/invocation.ts';
import { FunctionThrew } from '../../platform/functions/errors.ts';
import { silentLogger } from '../../platform/log.ts';

const calls: InvocationCall[] = [];
/** Bodies handed to clients as streams, to see what became of them. */
const streams: Readable[] = [];
/** What a request body did, by request id: its bytes, or the error it ended with. */
const uploads = new Map<string, Promise<string>>();

function answer(status: number, headers: Record<string, string | string[]>, body: Buffer | Readable): InvocationAnswer {
  const whole = body instanceof Readable ? null : body;
  const stream = body instanceof Readable ? body : Readable.from([]);
  return { response: { cold: false, status, headers, whole, body: stream, invocationId: 'inv', version: 'v1' } };
}

function readAll(body: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    body.on('data', (d: Buffer) => (text += d.toString('latin1')));
    body.on('end', () => resolve(text));
    body.on('error', reject);
  });
}

async function serve(call: InvocationCall): Promise<InvocationAnswer> {
  calls.push(call);
  const name = call.target.slice(4).split(/[/?]/)[0];
  switch (name) {
    case 'echo': {
      const body = call.body ? await readAll(call.body) : null;
      return answer(
        200,
        { 'content-type': 'text/plain' },
        Buffer.from(`${call.method} ${call.target} body=${body === null ? 'none' : body} x=${call.headers.x ?? ''}`),
      );
    }
    case 'upload': {
      uploads.set(
        call.requestId,
        readAll(call.body!).catch((err: Error) => `error: ${err.message}`),
      );
      await uploads.get(call.requestId);
      return answer(200, {}, Buffer.from('ok'));
    }
    case 'early':
      // Answers without reading the body.
      return answer(200, {}, Buffer.from('early'));
    case 'stream': {
      const body = new Readable({ read() {} });
      streams.push(body);
      const endless = call.target.includes('endless');
      setTimeout(() => body.push('one,'), 5);
      setTimeout(() => body.push('two,'), 10);
      if (!endless) setTimeout(() => body.push(null), 15);
      return answer(200, call.target.includes('sized') ? { 'content-length': '8' } : {}, body);
    }
    case 'head':
      return answer(200, { 'content-length': '5', 'content-type': 'text/plain' }, Buffer.alloc(0));
    case 'empty':
      return answer(204, {}, Buffer.alloc(0));
    case 'cookies':
      return answer(200, { 'set-cookie': ['a=1', 'b=2'], 'x-request-id': 'forged' }, Buffer.from('c'));
    case 'preflight':
      return { preflight: new Response(null, { status: 204, headers: { 'access-control-allow-origin': 'https://x.test' } }) };
    case 'bad-header':
      return answer(200, { 'x-bad': 'a\x01b' }, Buffer.from('never'));
    default:
      throw FunctionThrew(`function ${name}: boom`);
  }
}

// Short limits, to see Node's own timeouts hold on the connections it is handed.
const http = createServer({ headersTimeout: 300, requestTimeout: 300, connectionsCheckingInterval: 50 }, (req, res) => {
  let n = 0;
  req.on('data', (d: Buffer) => (n += d.length));
  req.on('end', () => res.end(`node ${req.method} ${req.url} body=${n}`));
});
const door = new FrontDoor(serve, http, silentLogger, 300);
await door.listen(0, '127.0.0.1');
const port = (door.server.address() as net.AddressInfo).port;

interface Parsed {
  status: number;
  headers: Record<string, string[]>;
  body: string;
  raw: string;
}

/** A client socket that collects what comes back; `responses(n)` waits for n whole responses. */
function client() {
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  let ended = false;
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  socket.on('data', (d: Buffer) => {
    data += d.toString('latin1');
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('close', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => {});
  const until = async (ok: () => boolean, what: string) => {
    const deadline = Date.now() + 3000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(data)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return {
    socket,
    send: (text: string) => socket.write(text, 'latin1'),
    raw: () => data,
    ended: () => ended,
    async responses(n: number, method = 'GET'): Promise<Parsed[]> {
      let out: Parsed[] = [];
      await until(() => (out = parseResponses(data, method)).length >= n, `${n} responses`);
      return out;
    },
    async end(): Promise<void> {
      await until(() => ended, 'the connection to end');
    },
  };
}

/** Parses whole responses (content-length, chunked, or bodiless) from the start of `text`. */
function parseResponses(text: string, method: string): Parsed[] {
  const out: Parsed[] = [];
  let pos = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', pos);
    if (end === -1) return out;
    const lines = text.slice(pos, end).split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers: Record<string, string[]> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      (headers[l.slice(0, i).toLowerCase()] ??= []).push(l.slice(i + 1).trim());
    }
    let body = '';
    let next = end + 4;
    if (method === 'HEAD' || status === 204 || status === 304) {
      // no body
    } else if (headers['transfer-encoding']?.[0] === 'chunked') {
      for (;;) {
        const eol = text.indexOf('\r\n', next);
        if (eol === -1) return out;
        const size = parseInt(text.slice(next, eol), 16);
        if (text.length < eol + 2 + size + 2) return out;
        body += text.slice(eol + 2, eol + 2 + size);
        next = eol + 2 + size + 2;
        if (size === 0) break;
      }
    } else {
      const len = Number(headers['content-length']?.[0] ?? 0);
      if (text.length < next + len) return out;
      body = text.slice(next, next + len);
      next += len;
    }
    out.push({ status, headers, body, raw: text.slice(pos, next) });
    pos = next;
  }
}

test('keep-alive: requests one after another on one connection, each with its request id', async () => {
  const c = client();
  c.send('GET /fn/echo/a HTTP/1.1\r\nhost: x\r\nx: 1\r\n\r\n');
  const [first] = await c.responses(1);
  assert.is(first.status, 200);
  assert.is(first.body, 'GET /fn/echo/a body=none x=1');
  assert.is(first.headers['content-length'][0], String(first.body.length));
  assert.is(first.headers.connection[0], 'keep-alive');
  assert.match(first.headers['x-request-id'][0], /^req_/);
  c.send('GET /fn/echo/b HTTP/1.1\r\nhost: x\r\nx-request-id: mine-1\r\n\r\n');
  const [, second] = await c.responses(2);
  assert.is(second.body, 'GET /fn/echo/b body=none x=');
  assert.is(second.headers['x-request-id'][0], 'mine-1');
  assert.is(calls.at(-1)!.requestId, 'mine-1');
  assert.is(calls.at(-1)!.remoteAddress, '127.0.0.1');
  c.socket.destroy();
});

test('pipelined requests are answered in order, one at a time', async () => {
  const c = client();
  c.send(
    'GET /fn/stream HTTP/1.1\r\nhost: x\r\n\r\nGET /fn/echo/2 HTTP/1.1\r\nhost: x\r\n\r\nPOST /fn/echo/3 HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc',
  );
  const r = await c.responses(3);
  assert.equal(
    r.map((x) => x.body),
    ['one,two,', 'GET /fn/echo/2 body=none x=', 'POST /fn/echo/3 body=abc x='],
  );
  c.socket.destroy();
});

test("a request the door does not take hands the connection to Node's server, bytes and all", async () => {
  const c = client();
  c.send(
    'GET /fn/echo/1 HTTP/1.1\r\nhost: x\r\n\r\nPOST /v1/things HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhiGET /fn/echo/3 HTTP/1.1\r\nhost: x\r\n\r\n',
  );
  const r = await c.responses(3);
  assert.equal(
    r.map((x) => x.body),
    ['GET /fn/echo/1 body=none x=', 'node POST /v1/things body=2', 'node GET /fn/echo/3 body=0'],
  );
  // Chunked uploads, HTTP/1.0 and heads that arrive in pieces are Node's too.
  const d = client();
  d.send('POST /fn/echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  assert.is((await d.responses(1))[0].body, 'node POST /fn/echo body=3');
  const e = client();
  e.send('GET /fn/echo HTTP/1.1\r\nhost: x\r\nho');
  await new Promise((r) => setTimeout(r, 20));
  e.send('st: x\r\n\r\n');
  assert.is((await e.responses(1))[0].body, 'node GET /fn/echo body=0');
  for (const s of [c, d, e]) s.socket.destroy();
});

test("a connection handed over keeps Node's limits: a head that never ends gets 408", async () => {
  const c = client();
  c.send('GET /fn/echo HTTP/1.1\r\nhost: x\r\n');
  const [r] = await c.responses(1);
  assert.is(r.status, 408);
  await c.end();
});

test('request bodies: split across packets, followed by the next request; a GET body is read and dropped', async () => {
  const c = client();
  c.send('POST /fn/echo HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n01234');
  await new Promise((r) => setTimeout(r, 20));
  c.send('56789GET /fn/echo/after HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\n\r\nxxxxGET /fn/echo/last HTTP/1.1\r\nhost: x\r\n\r\n');
  const r = await c.responses(3);
  assert.equal(
    r.map((x) => x.body),
    ['POST /fn/echo body=0123456789 x=', 'GET /fn/echo/after body=none x=', 'GET /fn/echo/last body=none x='],
  );
  // A body-carrying method without a length has an empty body, as on Node's path.
  c.send('DELETE /fn/echo HTTP/1.1\r\nhost: x\r\n\r\n');
  assert.is((await c.responses(4))[3].body, 'DELETE /fn/echo body= x=');
  c.socket.destroy();
});

test('a client that leaves mid-upload fails the request body', async () => {
  const c = client();
  c.send('POST /fn/upload HTTP/1.1\r\nhost: x\r\nx-request-id: leaver\r\ncontent-length: 100\r\n\r\npartial');
  const deadline = Date.now() + 2000;
  while (!uploads.has('leaver') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  c.socket.destroy();
  assert.match(await uploads.get('leaver')!, /^error: the client (closed|ended)/);
});

test('an answer before the whole body: the connection closes after it, and the rest is read, not reset', async () => {
  const c = client();
  c.send('POST /fn/early HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\nabc');
  const [r] = await c.responses(1);
  assert.is(r.body, 'early');
  assert.is(r.headers.connection[0], 'close');
  // The client may still send what it declared without being reset, then sees the end.
  c.send('x'.repeat(50_000));
  await c.end();
  assert.is(parseResponses(c.raw(), 'GET').length, 1);
});

test('response framings: chunked, a length the function gave, HEAD, 204, repeated headers', async () => {
  const c = client();
  c.send(
    'GET /fn/stream HTTP/1.1\r\nhost: x\r\n\r\nGET /fn/stream/sized HTTP/1.1\r\nhost: x\r\n\r\nHEAD /fn/head HTTP/1.1\r\nhost: x\r\n\r\nGET /fn/empty HTTP/1.1\r\nhost: x\r\n\r\nGET /fn/cookies HTTP/1.1\r\nhost: x\r\n\r\n',
  );
  await c.responses(2);
  const r = parseResponses(c.raw(), 'GET').slice(0, 2);
  assert.is(r[0].headers['transfer-encoding'][0], 'chunked');
  assert.is(r[0].body, 'one,two,');
  assert.is(r[1].headers['content-length'][0], '8');
  assert.is(r[1].headers['transfer-encoding'], undefined);
  assert.is(r[1].body, 'one,two,');
  // The HEAD answer has the function's length and no body: the 204 follows straight after it.
  const rest = c.raw().slice(r[0].raw.length + r[1].raw.length);
  const deadline = Date.now() + 2000;
  let text = rest;
  while (!/HTTP\/1\.1 200[\s\S]*set-cookie: b=2[\s\S]*\r\n\r\nc$/.test(text) && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 10));
    text = c.raw().slice(r[0].raw.length + r[1].raw.length);
  }
  const heads = text.split(/(?=HTTP\/1\.1 )/);
  assert.is(heads.length, 3, text);
  assert.match(heads[0], /^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 5\r\n[\s\S]*\r\n\r\n$/);
  assert.match(heads[1], /^HTTP\/1\.1 204 No Content\r\n/);
  assert.not.match(heads[1], /content-length/);
  assert.match(heads[2], /set-cookie: a=1\r\nset-cookie: b=2\r\n/);
  // The platform's request id replaces one the function set.
  assert.not.match(heads[2], /forged/);
  c.socket.destroy();
});

test('errors are problems with the request id; a header HTTP cannot carry is a 500, and the connection serves on', async () => {
  const c = client();
  c.send('GET /fn/nope/x?y HTTP/1.1\r\nhost: x\r\nx-request-id: r-1\r\n\r\n');
  const [p] = await c.responses(1);
  assert.is(p.status, 500);
  assert.is(p.headers['content-type'][0], 'application/problem+json');
  const problem = JSON.parse(p.body) as { code: string; requestId: string; instance: string };
  assert.is(problem.code, 'function_threw');
  assert.is(problem.requestId, 'r-1');
  assert.is(problem.instance, '/fn/nope/x');
  c.send('GET /fn/bad-header HTTP/1.1\r\nhost: x\r\n\r\n');
  const [, bad] = await c.responses(2);
  assert.is(bad.status, 500);
  assert.is((JSON.parse(bad.body) as { code: string }).code, 'internal');
  assert.not.match(c.raw(), /x-bad/);
  c.send('OPTIONS /fn/preflight HTTP/1.1\r\nhost: x\r\n\r\n');
  const [, , pre] = await c.responses(3);
  assert.is(pre.status, 204);
  assert.is(pre.headers['access-control-allow-origin'][0], 'https://x.test');
  c.socket.destroy();
});

test('a client gone mid-response abandons the function body', async () => {
  const c = client();
  const before = streams.length;
  c.send('GET /fn/stream/endless HTTP/1.1\r\nhost: x\r\n\r\n');
  const deadline = Date.now() + 2000;
  while (!c.raw().includes('two,') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const body = streams[before];
  c.socket.destroy();
  while (!body.destroyed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.ok(body.destroyed);
});

test('connection: close is honoured; idle connections are closed after the keep-alive time', async () => {
  const c = client();
  c.send('GET /fn/echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\nGET /fn/echo/ignored HTTP/1.1\r\nhost: x\r\n\r\n');
  await c.end();
  const r = parseResponses(c.raw(), 'GET');
  assert.is(r.length, 1);
  assert.is(r[0].headers.connection[0], 'close');
  const idle = client();
  idle.send('GET /fn/echo HTTP/1.1\r\nhost: x\r\n\r\n');
  await idle.responses(1);
  const t = Date.now();
  await idle.end();
  assert.ok(Date.now() - t >= 250, 'closed before the keep-alive time');
});

test('close: idle connections end, a response in flight finishes and then its connection', async () => {
  const busy = client();
  const idle = client();
  idle.send('GET /fn/echo HTTP/1.1\r\nhost: x\r\n\r\n');
  await idle.responses(1);
  busy.send('GET /fn/stream HTTP/1.1\r\nhost: x\r\n\r\n');
  await new Promise((r) => setTimeout(r, 2));
  let closed = false;
  door.close(() => (closed = true));
  door.closeIdleConnections();
  await idle.end();
  const [r] = await busy.responses(1);
  assert.is(r.body, 'one,two,');
  await busy.end();
  const deadline = Date.now() + 2000;
  while (!closed && Date.now() < deadline) await new Promise((res) => setTimeout(res, 5));
  assert.ok(closed, 'the server closed once its connections ended');
});

test.run();
