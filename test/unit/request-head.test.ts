/**
 * The request heads the front door serves itself (platform/api/request-head.ts): what it takes,
 * the header object it builds (as Node's IncomingMessage would), and everything it leaves to
 * Node's server by answering null.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRequestHead } from '../../platform/api/request-head.ts';

const head = (...lines: string[]) => lines.join('\r\n');

test('a plain invocation: method, target, lower-case headers, no body', () => {
  const h = parseRequestHead(head('GET /fn/hello/a/b?x=1 HTTP/1.1', 'Host: localhost', 'X-Custom:  v  ', 'accept: */*'));
  assert.ok(h);
  assert.is(h.method, 'GET');
  assert.is(h.target, '/fn/hello/a/b?x=1');
  assert.equal(h.headers, { host: 'localhost', 'x-custom': 'v', accept: '*/*' });
  assert.is(h.contentLength, 0);
  assert.is(h.close, false);
});

test('content-length and connection: close are read', () => {
  const h = parseRequestHead(head('POST /fn/a HTTP/1.1', 'host: h', 'Content-Length: 12', 'Connection: keep-alive, Close'));
  assert.ok(h);
  assert.is(h.contentLength, 12);
  assert.is(h.close, true);
  assert.is(h.headers['content-length'], '12');
  assert.is(parseRequestHead(head('GET /fn/a HTTP/1.1', 'host: h', 'connection: closed'))?.close, false);
});

test('duplicates merge as Node merges them', () => {
  const h = parseRequestHead(
    head(
      'GET /fn/a HTTP/1.1',
      'Host: h',
      'Accept: a',
      'accept: b',
      'Cookie: x=1',
      'cookie: y=2',
      'Authorization: Bearer one',
      'authorization: Bearer two',
      'set-cookie: s',
    ),
  );
  assert.ok(h);
  assert.is(h.headers.accept, 'a, b');
  assert.is(h.headers.cookie, 'x=1; y=2');
  // The first authorization wins, as on Node's path: the token check and the function see one.
  assert.is(h.headers.authorization, 'Bearer one');
  assert.equal(h.headers['set-cookie'], ['s']);
});

test('what is left to Node: not an invocation, other versions, methods and framings', () => {
  const refused = [
    head('GET /v1/functions HTTP/1.1', 'host: x'),
    head('GET /fn/ HTTP/1.1', 'host: h'),
    head('GET /fn//x HTTP/1.1', 'host: h'),
    head('GET /fn/a HTTP/1.0', 'host: h'),
    head('GET /fn/a HTTP/2.0', 'host: h'),
    head('GET /fn/a HTTP/1.1 extra', 'host: h'),
    head('BREW /fn/a HTTP/1.1', 'host: h'),
    head('CONNECT /fn/a HTTP/1.1', 'host: h'),
    head('get /fn/a HTTP/1.1', 'host: h'),
    head('POST /fn/a HTTP/1.1', 'host: h', 'transfer-encoding: chunked'),
    head('POST /fn/a HTTP/1.1', 'host: h', 'expect: 100-continue', 'content-length: 3'),
    head('GET /fn/a HTTP/1.1', 'host: h', 'upgrade: websocket', 'connection: upgrade'),
    head('POST /fn/a HTTP/1.1', 'host: h', 'content-length: 3', 'content-length: 3'),
    head('POST /fn/a HTTP/1.1', 'host: h', 'content-length: -1'),
    head('POST /fn/a HTTP/1.1', 'host: h', 'content-length: 1e3'),
    head('POST /fn/a HTTP/1.1', 'host: h', 'content-length: 9999999999999999'),
    head('GET /fn/a HTTP/1.1', 'host: h', 'x: a', ' folded'),
    head('GET /fn/a HTTP/1.1', 'host: h', 'bad name: v'),
    head('GET /fn/a HTTP/1.1', 'host: h', ': v'),
    head('GET /fn/a HTTP/1.1', 'host: h', 'no-colon'),
    head('GET /fn/a HTTP/1.1', 'host: h', 'x: a\x00b'),
    head('GET /fn/a HTTP/1.1', 'host: h', 'x: a\x7fb'),
    head('GET /fn/a HTTP/1.1', 'host: h', 'x: a\nb'),
    head('GET /fn/a\x01 HTTP/1.1', 'host: h'),
    head('GET  /fn/a HTTP/1.1', 'host: h'),
    head('', 'GET /fn/a HTTP/1.1', 'host: h'),
    head('GET /fn/a HTTP/1.1', 'x: no host'),
    head('GET /fn/a HTTP/1.1', 'host: h', '__proto__: x'),
  ];
  for (const text of refused) assert.is(parseRequestHead(text), null, JSON.stringify(text));
});

test('obs-text and tabs in values are kept, as llhttp keeps them', () => {
  const h = parseRequestHead(head('GET /fn/a HTTP/1.1', 'host: h', 'x: caf\xe9\tau lait'));
  assert.is(h?.headers.x, 'caf\xe9\tau lait');
});

test.run();
