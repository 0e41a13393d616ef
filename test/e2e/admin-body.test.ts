/**
 * Admin request bodies are counted as they arrive: a chunked body (no Content-Length to refuse
 * up front) larger than the route's limit is answered 413 `payload_too_large` once the limit is
 * passed, not after the daemon has buffered all of it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request as httpRequest } from 'node:http';
import { deploy, sharedDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
sharedDaemon(test, ['echo'], (daemon) => (d = daemon));

const MiB = 1024 * 1024;

/**
 * Streams up to `total` bytes of JSON-ish filler, chunked, and stops writing when the response
 * arrives. Resolves with the status, the problem's code and how many bytes were written by then.
 */
function upload(method: string, urlPath: string, total: number): Promise<{ status: number; code: string; sent: number }> {
  const chunk = Buffer.alloc(MiB, 'a');
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = httpRequest(
      `${d.url}${urlPath}`,
      { method, headers: { ...d.auth(), 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
      (res) => {
        answered = true;
        const atResponse = sent;
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode!, code: (JSON.parse(text) as { code: string }).code, sent: atResponse });
        });
      },
    );
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(sent === MiB ? Buffer.concat([Buffer.from('{"code":"'), chunk.subarray(9)]) : chunk)) return void req.once('drain', pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

test('a 200 MiB chunked deploy body is cut at the 64 MiB limit', async () => {
  const r = await upload('POST', '/v1/functions/big/deployments', 200 * MiB);
  assert.is(r.status, 413);
  assert.is(r.code, 'payload_too_large');
  assert.ok(r.sent < 100 * MiB, `${r.sent / MiB} MiB sent before the answer`);
});

test('small limits too: tokens (16 KiB), aliases (1 MiB), secrets', async () => {
  for (const [method, p] of [
    ['POST', '/v1/tokens'],
    ['PUT', '/v1/functions/echo/aliases/x'],
    ['PUT', '/v1/secrets/echo/BIG'],
  ]) {
    const r = await upload(method, p, 64 * MiB);
    assert.is(r.status, 413, p);
    assert.is(r.code, 'payload_too_large', p);
    assert.ok(r.sent < 24 * MiB, `${p}: ${r.sent / MiB} MiB sent before the answer`);
  }
});

test.run();
