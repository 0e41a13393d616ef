/**
 * Invocations on the agent's connections (platform/guest/agent-wire.ts) against a real Unix
 * socket that speaks the vsock handshake (platform/guest/vsock.ts) and then answers with scripted
 * bytes: connection reuse, request framing, every response framing, and what a broken agent, a
 * deadline or a reader that leaves does to the exchange and its connection.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { AgentConnections, AgentProtocolError, type AgentRequest } from '../../platform/guest/agent-wire.ts';
import { connectVsock } from '../../platform/guest/vsock.ts';
import type { Machine } from '../../platform/vmm/port.ts';
import { tempDir } from '../support/tmp.ts';

/** What the fake agent does with each request: gets the request's bytes so far, writes its answer. */
type Script = (socket: net.Socket, request: string) => void;

const dir = tempDir('ign-agent-wire-');
const sock = path.join(dir, 'agent.sock');
let script: Script = () => {};
let connections = 0;
const sockets = new Set<net.Socket>();
const server = net.createServer((s) => {
  connections++;
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
  s.on('error', () => {});
  let shaken = false;
  let buf = '';
  s.on('data', (chunk) => {
    buf += chunk.toString('latin1');
    if (!shaken) {
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      assert.is(buf.slice(0, nl), 'CONNECT 52');
      buf = buf.slice(nl + 1);
      shaken = true;
      s.write('OK 1\n');
    }
    // One request at a time: the script answers once its head and body are in.
    if (buf.includes('\r\n\r\n') && ready(buf)) {
      const request = buf;
      buf = '';
      script(s, request);
    }
  });
});
await new Promise<void>((r) => server.listen(sock, r));

/** A request is complete: its head, and its body by length or chunked to the last chunk. */
function ready(request: string): boolean {
  const end = request.indexOf('\r\n\r\n');
  const head = request.slice(0, end).toLowerCase();
  const body = request.slice(end + 4);
  const cl = /content-length: (\d+)/.exec(head);
  if (cl) return body.length >= Number(cl[1]);
  if (head.includes('transfer-encoding: chunked')) return body.endsWith('0\r\n\r\n');
  return true;
}

const machine = { id: 'm', connect: (port: number, o?: { timeoutMs?: number }) => connectVsock(sock, port, o) } as unknown as Machine;

function get(extra: Partial<AgentRequest> = {}): AgentRequest {
  return { method: 'GET', headers: { host: 'fn' }, body: null, ...extra };
}

async function text(body: Readable): Promise<string> {
  return Buffer.concat(await body.toArray()).toString('latin1');
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

test('two requests in turn share one connection; headers go as given, less omit, plus extra', async () => {
  const wire = new AgentConnections(machine);
  connections = 0;
  const seen: string[] = [];
  script = (s, req) => {
    seen.push(req);
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\nhello');
  };
  const omitResponse = new Set(['connection']);
  for (let i = 0; i < 2; i++) {
    const res = await wire.request(
      '/v1/invoke/x?q=1',
      get({
        headers: { host: 'fn', 'x-drop': 'a', 'x-keep': ['1', '2'] },
        omit: (n) => n === 'x-drop',
        extra: ['x-id', `inv_${i}`],
        omitResponse,
      }),
    );
    assert.is(res.statusCode, 200);
    assert.equal(res.headers, { 'content-length': '5', 'x-a': '1' });
    assert.is(await text(res.body), 'hello');
  }
  assert.is(connections, 1, 'the second request reused the first connection');
  assert.is(seen[1], 'GET /v1/invoke/x?q=1 HTTP/1.1\r\nhost: fn\r\nx-keep: 1\r\nx-keep: 2\r\nx-id: inv_1\r\n\r\n');
  wire.close();
});

test('a response body in several writes and a chunked one arrive whole; a small one is taken whole', async () => {
  const wire = new AgentConnections(machine);
  script = (s) => {
    s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n');
    setTimeout(() => s.write('4\r\ndefg\r\n0\r\n\r\n'), 30);
  };
  const streamed = await wire.request('/', get());
  assert.is(streamed.whole, null, 'a body still arriving is a stream');
  assert.is(await text(streamed.body), 'abcdefg');
  script = (s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
  const small = await wire.request('/', get());
  assert.is(small.whole?.toString(), 'abc');
  assert.is(await text(small.body), 'abc', 'read as a stream, a whole body gives the same bytes');
  script = (s) => s.write('HTTP/1.1 204 No Content\r\n\r\n');
  const none = await wire.request('/', get());
  assert.is(none.whole, null);
  assert.is(await text(none.body), '');
  script = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n');
  const empty = await wire.request('/', get());
  assert.is(empty.whole?.length, 0);
  wire.close();
});

test('request bodies: by length as given, chunked when the length is unknown', async () => {
  const wire = new AgentConnections(machine);
  const seen: string[] = [];
  script = (s, req) => {
    seen.push(req);
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  };
  const sized = await wire.request('/', {
    method: 'POST',
    headers: { 'content-length': '999' },
    body: Readable.from([Buffer.from('hel'), Buffer.from('lo')]),
    bodyLength: 5,
  });
  assert.is(await text(sized.body), 'ok');
  assert.match(seen[0], /content-length: 5\r\n\r\nhello$/);
  assert.not.match(seen[0], /999/);
  const chunked = await wire.request('/', { method: 'POST', headers: {}, body: Readable.from([Buffer.from('hel'), Buffer.from('lo')]) });
  assert.is(await text(chunked.body), 'ok');
  assert.match(seen[1], /transfer-encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n$/);
  wire.close();
});

test('a malformed answer rejects with an AgentProtocolError and closes the connection; the next request gets a new one', async () => {
  const wire = new AgentConnections(machine);
  connections = 0;
  for (const answer of [
    'HTTP/1.1 200 OK\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n',
    'SSH-2.0-nope\r\n\r\n',
    'HTTP/1.1 200 OK\r\nbad header\r\n\r\n',
  ]) {
    script = (s) => s.write(answer);
    const err = await wire.request('/', get()).catch((e: unknown) => e);
    assert.instance(err, AgentProtocolError, answer);
  }
  script = (s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n');
  const err = await wire.request('/', get()).catch((e: unknown) => e);
  assert.instance(err, AgentProtocolError, 'a bad chunk size in the bytes that came with the head');
  script = (s) => {
    s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n');
    setTimeout(() => s.write('nothex\r\n'), 20);
  };
  const cut = await wire.request('/', get());
  const bodyErr = await text(cut.body).catch((e: unknown) => e);
  assert.instance(bodyErr, AgentProtocolError, 'a bad chunk later fails the body');
  await tick();
  assert.is(sockets.size, 0, 'every connection that carried a bad answer was closed');
  script = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  assert.is(await text((await wire.request('/', get())).body), 'ok');
  assert.is(connections, 6);
  wire.close();
});

test('an agent that closes: before the head the request fails, mid-body the body fails, a close-delimited body ends', async () => {
  const wire = new AgentConnections(machine);
  script = (s) => s.destroy();
  assert.instance(await wire.request('/', get()).catch((e: unknown) => e), Error);
  script = (s) => {
    s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
    setTimeout(() => s.destroy(), 20);
  };
  const cut = await wire.request('/', get());
  assert.instance(await text(cut.body).catch((e: unknown) => e), Error);
  connections = 0;
  script = (s) => {
    s.write('HTTP/1.1 200 OK\r\n\r\nuntil');
    setTimeout(() => s.end(' the end'), 20);
  };
  assert.is(await text((await wire.request('/', get())).body), 'until the end');
  script = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  assert.is(await text((await wire.request('/', get())).body), 'ok');
  assert.is(connections, 2, 'a close-delimited response is not followed by another request on its connection');
  wire.close();
});

test('the signal ends the exchange: before the head with its reason, after it by failing the body', async () => {
  const wire = new AgentConnections(machine);
  const signal = () => {
    let listener: (() => void) | undefined;
    const s = {
      aborted: false,
      reason: undefined as unknown,
      addEventListener: (_: 'abort', l: () => void) => (listener = l),
      removeEventListener: () => (listener = undefined),
      abort(reason: Error) {
        s.aborted = true;
        s.reason = reason;
        listener?.();
      },
    };
    return s;
  };
  script = () => {};
  const early = signal();
  const pending = wire.request('/', get({ signal: early }));
  await tick();
  early.abort(new Error('deadline'));
  assert.is(((await pending.catch((e: unknown) => e)) as Error).message, 'deadline');
  script = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
  const late = signal();
  const res = await wire.request('/', get({ signal: late }));
  late.abort(new Error('deadline later'));
  assert.is(((await text(res.body).catch((e: unknown) => e)) as Error).message, 'deadline later');
  await tick();
  assert.is(sockets.size, 0, 'the connection of an aborted exchange is closed');
  wire.close();
});

test('a reader that destroys the body mid-stream closes its connection, not the next request', async () => {
  const wire = new AgentConnections(machine);
  script = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart');
  const res = await wire.request('/', get());
  res.body.destroy();
  await tick();
  assert.is(sockets.size, 0);
  script = (s) => s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  assert.is(await text((await wire.request('/', get())).body), 'ok');
  wire.close();
});

test('a request that cannot be written is bad_request and opens no connection', async () => {
  const wire = new AgentConnections(machine);
  connections = 0;
  const err = (await wire.request('/', get({ headers: { 'x-a': 'a\r\nb: c' } })).catch((e: unknown) => e)) as { code?: string };
  assert.is(err.code, 'bad_request');
  assert.is(connections, 0);
  wire.close();
});

test.after(() => {
  server.close();
});

test.run();
