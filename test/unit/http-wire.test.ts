/**
 * The daemon's HTTP/1.1 wire code for the agent connection (platform/guest/http-wire.ts): response
 * heads and chunked bodies split at every byte, every framing, and malformed answers, which must
 * be an AgentProtocolError (the invoker's function_crashed) and never anything else.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentProtocolError, ChunkedDecoder, HeadReader, MAX_HEAD_BYTES, parseResponseHead, requestHead } from '../../platform/guest/http-wire.ts';
import { IgnitionError } from '../../platform/errors.ts';

const RESPONSE =
  'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nx-empty:\r\nx-pad:   spaced value \t\r\ncontent-length: 5\r\n\r\nhello';

/** Feeds `bytes` to a HeadReader in the given pieces; the head and every byte after it. */
function readHead(bytes: Buffer, cuts: number[], method = 'GET') {
  const reader = new HeadReader(method);
  let at = 0;
  let got: ReturnType<HeadReader['feed']> = null;
  const rest: Buffer[] = [];
  for (const cut of [...cuts, bytes.length]) {
    const piece = bytes.subarray(at, cut);
    at = cut;
    if (got) rest.push(piece);
    else got = reader.feed(piece);
    if (got && rest.length === 0) rest.push(got.rest);
  }
  return { head: got?.head ?? null, rest: Buffer.concat(rest).toString('latin1') };
}

test('a response head split at every byte reads the same', () => {
  const bytes = Buffer.from(RESPONSE, 'latin1');
  const whole = readHead(bytes, []);
  assert.equal(whole.head, {
    status: 200,
    headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'x-empty': '', 'x-pad': 'spaced value', 'content-length': '5' },
    framing: 'length',
    length: 5,
    keepAlive: true,
  });
  assert.is(whole.rest, 'hello');
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.equal(readHead(bytes, [cut]), whole, `split at ${cut}`);
  }
  const byByte = readHead(
    bytes,
    Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
  );
  assert.equal(byByte, whole);
});

test('interim 1xx heads are skipped, the final head comes with its body bytes', () => {
  const bytes = Buffer.from('HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n' + RESPONSE, 'latin1');
  for (let cut = 1; cut < bytes.length; cut++) {
    const { head, rest } = readHead(bytes, [cut]);
    assert.is(head?.status, 200, `split at ${cut}`);
    assert.is(rest, 'hello');
  }
});

test('names in omit are read for the framing but left out of the headers', () => {
  const omit = new Set(['connection', 'transfer-encoding', 'keep-alive']);
  const head = parseResponseHead(
    'HTTP/1.1 200 OK\r\nConnection: close\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nx-kept: 1\r\n__proto__: x',
    'GET',
    omit,
  )!;
  assert.equal(head.headers, { 'x-kept': '1' });
  assert.is(head.framing, 'chunked');
  assert.is(head.keepAlive, false);
  assert.is(Object.getPrototypeOf(head.headers), Object.prototype);
});

test('framing: HEAD, 204 and 304 have no body; then transfer-encoding, content-length, or the close', () => {
  const head = (s: string, method = 'GET') => parseResponseHead(s, method)!;
  assert.is(head('HTTP/1.1 200 OK\r\ncontent-length: 10', 'HEAD').framing, 'none');
  assert.is(head('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked', 'HEAD').framing, 'none');
  assert.is(head('HTTP/1.1 204 No Content').framing, 'none');
  assert.is(head('HTTP/1.1 304 Not Modified\r\ncontent-length: 10').framing, 'none');
  assert.is(head('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked').framing, 'chunked');
  assert.is(head('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked').framing, 'chunked');
  const gzip = head('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip');
  assert.is(gzip.framing, 'close');
  assert.is(gzip.keepAlive, false);
  const cl = head('HTTP/1.1 200 OK\r\ncontent-length: 42\r\ncontent-length: 42');
  assert.is(cl.framing, 'length');
  assert.is(cl.length, 42);
  const none = head('HTTP/1.1 200 OK');
  assert.is(none.framing, 'close');
  assert.is(none.keepAlive, false);
  assert.is(head('HTTP/1.1 200\r\ncontent-length: 0').status, 200, 'a status line without a reason');
});

test('keep-alive: HTTP/1.1 unless connection: close; HTTP/1.0 only with connection: keep-alive', () => {
  const keep = (s: string) => parseResponseHead(`${s}\r\ncontent-length: 0`, 'GET')!.keepAlive;
  assert.is(keep('HTTP/1.1 200 OK'), true);
  assert.is(keep('HTTP/1.1 200 OK\r\nconnection: Close'), false);
  assert.is(keep('HTTP/1.1 200 OK\r\nconnection: upgrade, close'), false);
  assert.is(keep('HTTP/1.1 200 OK\r\nconnection: closed'), true);
  assert.is(keep('HTTP/1.0 200 OK'), false);
  assert.is(keep('HTTP/1.0 200 OK\r\nconnection: keep-alive'), true);
});

test('malformed answers are AgentProtocolErrors', () => {
  const bad = [
    'garbage\r\n\r\n',
    'HTTP/2 200 OK\r\n\r\n',
    'HTTP/1.1 20 OK\r\n\r\n',
    'HTTP/1.1 099 Low\r\n\r\n',
    'HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
    'HTTP/1.1 200 OK\r\n: empty name\r\n\r\n',
    'HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nx: a\r\n folded: b\r\n\r\n',
    'HTTP/1.1 200 OK\r\nx: a\nb\r\n\r\n',
    'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n',
    'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n',
    'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n',
    'HTTP/1.1 200 OK\r\ncontent-length: 1e3\r\n\r\n',
    'HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999\r\n\r\n',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\ntransfer-encoding: chunked\r\n\r\n',
    `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`,
  ];
  for (const text of bad) {
    assert.throws(
      () => new HeadReader('GET').feed(Buffer.from(text, 'latin1')),
      (err: unknown) => err instanceof AgentProtocolError,
      JSON.stringify(text.slice(0, 60)),
    );
  }
  // A head that never ends is refused once it passes the limit, not buffered without bound.
  const reader = new HeadReader('GET');
  assert.is(reader.feed(Buffer.from('HTTP/1.1 200 OK\r\n')), null);
  assert.throws(
    () => {
      for (let i = 0; i < 100; i++) reader.feed(Buffer.from(`x-${i}: ${'b'.repeat(500)}\r\n`));
    },
    (err: unknown) => err instanceof AgentProtocolError,
  );
});

/** Decodes `wire` fed in the given pieces: the data, and the offset (in `wire`) just past the end. */
function decode(wire: Buffer, cuts: number[]): { data: string; end: number } {
  const dec = new ChunkedDecoder();
  const out: Buffer[] = [];
  let at = 0;
  let end = -1;
  for (const cut of [...cuts, wire.length]) {
    const piece = wire.subarray(at, cut);
    const e = dec.decode(piece, (d) => out.push(Buffer.from(d)));
    if (e !== -1) {
      end = at + e;
      break;
    }
    at = cut;
  }
  assert.is(dec.done, end !== -1);
  return { data: Buffer.concat(out).toString('latin1'), end };
}

test('a chunked body split at every byte decodes the same, extensions and trailers included', () => {
  const body = '5\r\nhello\r\nA;name=value\r\n, world!!!\r\n1 ; x\r\n\n\r\n0\r\nx-trailer: t\r\nother: o\r\n\r\n';
  const wire = Buffer.from(`${body}NEXT`, 'latin1');
  const whole = decode(wire, []);
  assert.equal(whole, { data: 'hello, world!!!\n', end: body.length });
  for (let cut = 1; cut < wire.length; cut++) assert.equal(decode(wire, [cut]), whole, `split at ${cut}`);
  assert.equal(
    decode(
      wire,
      Array.from({ length: wire.length - 1 }, (_, i) => i + 1),
    ),
    whole,
  );
  assert.equal(decode(Buffer.from('0\r\n\r\n'), []), { data: '', end: 5 });
  assert.equal(decode(Buffer.from('1\r\na\r\n'), []), { data: 'a', end: -1 }, 'not ended yet');
});

test('malformed chunked bodies are AgentProtocolErrors', () => {
  const bad = [
    'x\r\n',
    '\r\n',
    '5\nhello\r\n',
    '5\r\nhelloXX',
    '5\r\nhello\rX',
    '5;ext\n',
    'fffffffffffffff\r\n',
    '0\r\ntrailer\n',
    '0\r\n\rX',
    `1;${'e'.repeat(20000)}\r\n`,
    `0\r\n${'t'.repeat(20000)}`,
  ];
  for (const text of bad) {
    assert.throws(
      () => new ChunkedDecoder().decode(Buffer.from(text, 'latin1'), () => {}),
      (err: unknown) => err instanceof AgentProtocolError,
      JSON.stringify(text.slice(0, 40)),
    );
  }
  const done = new ChunkedDecoder();
  assert.is(
    done.decode(Buffer.from('0\r\n\r\n'), () => {}),
    5,
  );
  assert.throws(
    () => done.decode(Buffer.from('1'), () => {}),
    (err: unknown) => err instanceof AgentProtocolError,
  );
});

test('the request head: headers as given, the host kept, the framing the writer’s own', () => {
  const head = requestHead(
    'POST',
    '/v1/invoke/a?b=c%20d',
    { host: 'example.com', 'x-list': ['1', '2'], 'content-length': '99', 'transfer-encoding': 'chunked', 'x-latin1': 'caf\u00e9' },
    12,
  );
  assert.is(head, 'POST /v1/invoke/a?b=c%20d HTTP/1.1\r\nhost: example.com\r\nx-list: 1\r\nx-list: 2\r\nx-latin1: caf\u00e9\r\ncontent-length: 12\r\n\r\n');
  assert.is(requestHead('GET', '/', {}, null), 'GET / HTTP/1.1\r\nhost: agent\r\n\r\n');
  const omitted = requestHead(
    'GET',
    '/',
    { host: 'h', 'x-drop': 'a', 'x-forwarded-for': 'spoofed', constructor: 'kept', 'x-undefined': undefined },
    null,
    (name) => name === 'x-drop',
    ['x-forwarded-for', '10.0.0.1', 'x-id', 'inv_1'],
  );
  assert.is(omitted, 'GET / HTTP/1.1\r\nhost: h\r\nconstructor: kept\r\nx-forwarded-for: 10.0.0.1\r\nx-id: inv_1\r\n\r\n');
  assert.is(requestHead('PUT', '/', { host: 'h' }, 'chunked'), 'PUT / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n');
});

test('a request that cannot go on the wire is bad_request, before anything is written', () => {
  const refused: Array<[string, string, Record<string, string | string[]>]> = [
    ['GE T', '/', {}],
    ['GET', '/a b', {}],
    ['GET', '/a\r\nx: y', {}],
    ['GET', '/\u0100', {}],
    ['GET', '/', { 'x-a': 'v\r\nx-injected: 1' }],
    ['GET', '/', { 'x-a': ['ok', 'v\n'] }],
    ['GET', '/', { 'x-a': 'nul\0' }],
    ['GET', '/', { 'x-a': 'wide \u2028' }],
    ['GET', '/', { 'bad name': 'v' }],
  ];
  for (const [method, target, headers] of refused) {
    assert.throws(
      () => requestHead(method, target, headers, null),
      (err: unknown) => err instanceof IgnitionError && err.code === 'bad_request',
      `${method} ${target} ${JSON.stringify(headers)}`,
    );
  }
});

test.run();
