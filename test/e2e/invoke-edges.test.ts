/**
 * The data path's edges, against a real daemon with real curl and raw sockets: uploads that ask
 * for 100 Continue or come chunked, bodies over the limit, a response stream cut at the
 * function's timeout, V8's heap limit, requests Node's parser refuses, and what `ignition invoke`
 * prints for the function's own error answers. Whatever the client sends, it must not cost the
 * function its instance.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { request } from 'undici';
import { deploy, FIXTURES, sharedDaemon, type TestDaemon } from '../support/daemon.ts';
import { rerun } from '../support/needs.ts';
import { lack, skipUnless } from '../support/skip.ts';
import { tempDir } from '../support/tmp.ts';

const EDGES = path.join(FIXTURES, 'edges');
// edges/ignition.json: 4 MiB bodies, 1500 ms timeout, one request per instance.
const LIMIT = 4 * 1024 * 1024;

let d: TestDaemon;
sharedDaemon(test, [], (daemon) => (d = daemon));
test.before(async () => {
  await deploy(d, EDGES);
  // A heap that fills before the timeout: V8's limit (three quarters of memoryMiB) ends it.
  await deploy(d, EDGES, ['--name', 'heap', '--memory', '256', '--timeout', '60000']);
});

const curlPath = await new Promise<string | null>((resolve) => execFile('sh', ['-c', 'command -v curl'], (err, out) => resolve(err ? null : out.trim())));
const withCurl = skipUnless(curlPath ? null : lack('curl is not installed', `apt-get install -y curl && ${rerun()}`));

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(curlPath!, ['-sS', ...args], { encoding: 'latin1', maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Response head and body of curl -i output (the last head: a 100 Continue comes first). */
function parseCurl(out: string): { status: number; head: string; body: string } {
  const parts = out.split('\r\n\r\n');
  let i = 0;
  while (/^HTTP\/1\.1 100 /.test(parts[i]) && i < parts.length - 1) i++;
  return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(parts[i])?.[1]), head: parts[i], body: parts.slice(i + 1).join('\r\n\r\n') };
}

/** A raw HTTP/1.1 exchange: writes `head`, then hands the socket to `then`; resolves with all bytes read once the daemon closes or `quietMs` pass. */
function raw(head: string, then?: (s: net.Socket, received: () => string) => void, quietMs = 3000): Promise<string> {
  const u = new URL(d.url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port), u.hostname);
    let out = '';
    let timer = setTimeout(() => s.destroy(), quietMs);
    s.on('data', (c) => {
      out += c.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(() => s.destroy(), quietMs);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.on('error', () => {});
    s.write(head);
    then?.(s, () => out);
  });
}

async function instanceIds(fn: string): Promise<string[]> {
  const res = await request(`${d.url}/v1/functions/${fn}/instances`, { headers: d.auth() });
  const body = (await res.body.json()) as { instances: Array<{ id: string }> };
  return body.instances.map((i) => i.id).sort();
}

/** None of the instances in `before` was retired (the pool may have started more meanwhile). */
async function assertKept(fn: string, before: string[]) {
  const now = await instanceIds(fn);
  for (const id of before) assert.ok(now.includes(id), `instance ${id} was retired: ${now.join(', ')}`);
}

async function logs(fn: string, invocation?: string): Promise<string> {
  const r = await d.cli(['logs', fn, ...(invocation ? ['--invocation', invocation] : [])]);
  assert.is(r.code, 0, r.stderr);
  return r.stdout;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 5000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) assert.unreachable(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function checksum(buf: Buffer): number {
  let sum = 0;
  for (const b of buf) sum = (sum + b) % 65521;
  return sum;
}

const dir = tempDir('ign-edges-');
const upload = Buffer.alloc(2 << 20);
for (let i = 0; i < upload.length; i++) upload[i] = (i * 31) & 0xff;
const uploadFile = path.join(dir, 'upload.bin');
writeFileSync(uploadFile, upload);
const bigFile = path.join(dir, 'big.bin');
writeFileSync(bigFile, Buffer.alloc(10 << 20, 1));

withCurl('curl --data-binary @file of 2 MiB (Expect: 100-continue) reaches the function whole, without the expect header', async () => {
  const before = await instanceIds('edges');
  const r = await curl(['-i', '-v', '--data-binary', `@${uploadFile}`, `${d.url}/fn/edges/upload`]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /Expect: 100-continue/i, 'curl asked for 100 Continue');
  const res = parseCurl(r.stdout);
  assert.is(res.status, 200, r.stdout.slice(0, 500));
  assert.equal(JSON.parse(res.body), { length: upload.length, sum: checksum(upload), expect: null });
  await assertKept('edges', before);
});

withCurl('curl with a chunked 10 MiB body gets 413 with a problem document; the instance stays', async () => {
  const before = await instanceIds('edges');
  const r = await curl(['-i', '-H', 'transfer-encoding: chunked', '--data-binary', `@${bigFile}`, `${d.url}/fn/edges/upload`]);
  assert.is(r.code, 0, r.stderr);
  const res = parseCurl(r.stdout);
  assert.is(res.status, 413, r.stdout.slice(0, 500));
  assert.match(res.head, /content-type: application\/problem\+json/i);
  const problem = JSON.parse(res.body);
  assert.is(problem.code, 'payload_too_large');
  assert.is(problem.limit, LIMIT);
  await assertKept('edges', before);
});

test('a declared body over the limit with Expect: 100-continue is refused before it is sent', async () => {
  const before = await instanceIds('edges');
  const out = await raw(`POST /fn/edges/upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${10 << 20}\r\nexpect: 100-continue\r\n\r\n`);
  assert.match(out, /^HTTP\/1\.1 413 /, out.slice(0, 300));
  assert.not.match(out, /100 Continue/);
  assert.match(out, /content-type: application\/problem\+json/i);
  assert.match(out, /"code":"payload_too_large"/);
  await assertKept('edges', before);
});

test('Expect: 100-continue on a raw socket: 100 Continue, then the body reaches the function', async () => {
  const body = Buffer.from('hello after continue');
  const out = await raw(
    `POST /fn/edges/upload HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n`,
    (s, received) => {
      const wait = setInterval(() => {
        if (!received().includes('100 Continue')) return;
        clearInterval(wait);
        s.write(body);
      }, 10);
      s.once('close', () => clearInterval(wait));
    },
  );
  assert.match(out, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /, out.slice(0, 300));
  assert.match(out, new RegExp(`"length":${body.length},"sum":${checksum(body)},"expect":null`));
});

test('headers a client controls, and a client that leaves mid-upload, never cost the instance', async () => {
  const before = await instanceIds('edges');
  // Expectations Node does not know, hop-by-hop headers, and one body sent in part then dropped.
  for (const head of [
    'POST /fn/edges/upload HTTP/1.1\r\nhost: x\r\nexpect: something-else\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi',
    'POST /fn/edges/upload HTTP/1.1\r\nhost: x\r\nconnection: keep-alive, te\r\nte: trailers\r\nkeep-alive: timeout=5\r\nproxy-connection: x\r\ncontent-length: 2\r\n\r\nhi',
    'GET /fn/edges/ HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n',
  ]) {
    const out = await raw(head, undefined, 1000);
    assert.match(out, /^HTTP\/1\.1 (200|417) /, out.slice(0, 200));
  }
  await raw(`POST /fn/edges/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n`, (s) => {
    s.write(Buffer.alloc(5000, 1));
    setTimeout(() => s.destroy(), 200);
  });
  const after = await request(`${d.url}/fn/edges/`);
  assert.is(await after.body.text(), 'edges');
  await assertKept('edges', before);
  assert.not.match(await logs('edges'), /failed while handling/);
});

withCurl('a stream cut at the timeout: the client sees the connection end; logs and metrics say why', async () => {
  const r = await curl(['-i', `${d.url}/fn/edges/stream`]);
  assert.is(r.code, 18, `curl exit ${r.code}: ${r.stderr}`);
  const res = parseCurl(r.stdout);
  assert.is(res.status, 200);
  assert.match(res.body, /^tick 0\n/);
  const id = /x-request-id: (\S+)/i.exec(res.head)![1];
  let line = '';
  await waitFor('the cut in the function log', async () => {
    line = await logs('edges', id);
    return line.includes('timeout');
  });
  assert.match(line, new RegExp(`${id} .*\\[ignition\\].*1500 ms`));
  assert.match(line, /phase timeout/);
  assert.match(line, /status 200/);
  const daemonLine = d
    .output()
    .split('\n')
    .find((l) => l.includes(id));
  assert.ok(daemonLine, 'the daemon log names the request');
  assert.match(daemonLine!, /function_timeout/);
  const metrics = await (await request(`${d.url}/metrics`)).body.text();
  assert.match(metrics, /ignition_invocation_errors_total\{code="function_timeout",function="edges"\} [1-9]/);
});

test('a stream cut at the timeout on a raw socket: no last chunk, the connection closes', async () => {
  const out = await raw('GET /fn/edges/stream HTTP/1.1\r\nhost: x\r\n\r\n', undefined, 5000);
  assert.match(out, /^HTTP\/1\.1 200 /);
  assert.match(out, /transfer-encoding: chunked/i);
  assert.match(out, /tick 0/);
  assert.not.match(out, /\r\n0\r\n\r\n$/, 'a chunked body that ends normally');
});

test("V8's fatal lines at the heap limit carry the invocation id", async () => {
  const res = await request(`${d.url}/fn/heap/heap`, { headersTimeout: 60_000 });
  const body = (await res.body.json()) as { code: string };
  assert.is(res.statusCode, 502);
  assert.is(body.code, 'function_out_of_memory');
  const id = res.headers['x-request-id'] as string;
  const mine = await logs('heap', id);
  assert.match(mine, /filling the heap/);
  assert.match(mine, /heap limit|JavaScript heap out of memory/, mine);
  // No V8 line of this crash is left without its invocation.
  const all = (await logs('heap')).split('\n').filter((l) => /heap limit|heap out of memory/.test(l));
  for (const l of all) assert.ok(l.includes(id), l);
});

test('an unknown method gets 501 and a malformed request 400, as problems with a request id', async () => {
  for (const [head, status, code] of [
    ['BOGUS /fn/edges/ HTTP/1.1\r\nhost: x\r\n\r\n', 501, 'method_not_implemented'],
    ['CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n', 501, 'method_not_implemented'],
    [`GET /fn/edges/ HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['GET /fn/edges/ HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n', 400, 'bad_request'],
    ['GET /fn/edges/ HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n', 400, 'bad_request'],
  ] as const) {
    const out = await raw(head, undefined, 2000);
    assert.match(out, new RegExp(`^HTTP/1\\.1 ${status} `), `${JSON.stringify(head)}: ${out.slice(0, 200)}`);
    assert.match(out, /content-type: application\/problem\+json/i);
    assert.match(out, /x-request-id: req_\w+/i);
    const problem = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4));
    assert.is(problem.code, code);
    assert.is(problem.status, status);
  }
});

withCurl('curl -X BOGUS gets the 501 problem', async () => {
  const r = await curl(['-i', '-X', 'BOGUS', `${d.url}/fn/edges/`]);
  const res = parseCurl(r.stdout);
  assert.is(res.status, 501);
  assert.match(res.head, /x-request-id: /i);
  assert.is(JSON.parse(res.body).code, 'method_not_implemented');
});

test('ignition invoke -X BOGUS prints one line naming the problem and fails', async () => {
  const r = await d.cli(['invoke', 'edges', '-X', 'BOGUS']);
  assert.is(r.code, 1);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /^error: .*BOGUS.* \[method_not_implemented\]\n$/);
  const spaced = await d.cli(['invoke', 'edges', '-X', 'NOT A METHOD']);
  assert.is(spaced.code, 1);
  assert.match(spaced.stderr, /^error: .*NOT A METHOD.* \[bad_request\]\n$/);
});

test('/fn and /v1 answer a body over the limit with the same code', async () => {
  const fn = await request(`${d.url}/fn/edges/upload`, { method: 'POST', body: Buffer.alloc(LIMIT + 1) });
  const v1 = await request(`${d.url}/v1/tokens`, {
    method: 'POST',
    headers: { ...d.auth(), 'content-type': 'application/json' },
    body: Buffer.alloc(2 << 20, 32),
  });
  assert.is(fn.statusCode, 413);
  assert.is(v1.statusCode, 413);
  const a = (await fn.body.json()) as { code: string };
  const b = (await v1.body.json()) as { code: string };
  assert.is(a.code, 'payload_too_large');
  assert.is(b.code, a.code);
});

test("ignition invoke prints a function's own 4xx as its output, with the status, and exits 1", async () => {
  for (const type of ['problem', 'json']) {
    const r = await d.cli(['invoke', 'edges', '--path', `/status?code=422&type=${type}`]);
    assert.is(r.code, 1, `${type}: ${r.stderr}`);
    assert.equal(JSON.parse(r.stdout), { error: 'the function said no', code: 'name_taken' });
    assert.is(r.stderr, 'HTTP 422 Unprocessable Entity\n', type);
  }
  const ok = await d.cli(['invoke', 'edges', '--path', '/status?code=201']);
  assert.is(ok.code, 0);
  assert.is(ok.stderr, '');
  const included = await d.cli(['invoke', 'edges', '-i', '--path', '/status?code=404&type=problem']);
  assert.is(included.code, 1);
  assert.match(included.stdout, /^HTTP 404\n/);
  assert.is(included.stderr, '');
  // A platform error stays one error line.
  const missingFn = await d.cli(['invoke', 'no-such-function']);
  assert.is(missingFn.code, 1);
  assert.match(missingFn.stderr, /^error: .* \[function_not_found\]\n$/);
  assert.is(missingFn.stdout, '');
  const help = await d.cli(['invoke', '--help']);
  assert.match(help.stdout, /4xx or 5xx[\s\S]*exits 1/);
});

test.run();
