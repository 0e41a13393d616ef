/**
 * Bad input and faults: every one gets a problem+json with a stable code and the phase that
 * failed, the daemon keeps serving other functions, a failed deploy leaves the previous version
 * serving, and a crashed instance is replaced.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { cpSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { deploy, FIXTURES, sharedDaemon, type TestDaemon } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

let d: TestDaemon;
sharedDaemon(test, ['echo'], (daemon) => (d = daemon));

async function problem(url: string, init: Parameters<typeof request>[1] = {}) {
  const res = await request(url, init);
  const body = (await res.body.json()) as Record<string, any>;
  return { status: res.statusCode, type: res.headers['content-type'], body };
}

async function echoStillServes() {
  const res = await request(`${d.url}/fn/echo/alive`);
  assert.is(res.statusCode, 200);
  await res.body.text();
}

test('a directory with no entry point', async () => {
  const r = await d.cli(['deploy', path.join(FIXTURES, 'no-entry')]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /no entry point in .*no-entry.*\[no_entry\]/);
});

test('a bundle that fails to build shows file:line', async () => {
  const r = await d.cli(['deploy', path.join(FIXTURES, 'broken-build')]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /index\.ts:3:\d+: .*\[build_failed\]/);
});

test('a function that throws at import: load phase; the previous version keeps serving', async () => {
  // Deploy a good version under the same name first, then the broken one.
  const dir = tempDir('ign-fn-');
  cpSync(path.join(FIXTURES, 'echo'), dir, { recursive: true });
  await deploy(d, dir, ['--name', 'flaky']);
  const r = await d.cli(['deploy', path.join(FIXTURES, 'throws-at-import'), '--name', 'flaky', '--json']);
  assert.is(r.code, 1);
  const p = JSON.parse(r.stderr);
  assert.is(p.code, 'function_load_failed');
  assert.is(p.phase, 'load');
  assert.match(p.detail, /boom at import/);
  const res = await request(`${d.url}/fn/flaky/still-here`);
  assert.is(res.statusCode, 200);
  assert.is(((await res.body.json()) as { path: string }).path, '/still-here');
});

test('a warmup() that throws fails the deploy in the warmup phase', async () => {
  const r = await d.cli(['deploy', path.join(FIXTURES, 'warmup-fails'), '--json']);
  assert.is(r.code, 1);
  const p = JSON.parse(r.stderr);
  assert.is(p.code, 'function_warmup_failed');
  assert.is(p.phase, 'warmup');
  assert.match(p.detail, /cache server unreachable during warmup/);
  const ls = JSON.parse((await d.cli(['ls', '--json'])).stdout).map((f: { name: string }) => f.name);
  assert.not.ok(ls.includes('warmup-fails'), 'a failed first deploy leaves no function behind');
});

test('a handler that throws: 500 function_threw, handler phase', async () => {
  await deploy(d, path.join(FIXTURES, 'throws-in-handler'));
  const p = await problem(`${d.url}/fn/throws-in-handler/`);
  assert.is(p.status, 500);
  assert.is(p.type, 'application/problem+json');
  assert.is(p.body.code, 'function_threw');
  assert.is(p.body.phase, 'handler');
  assert.match(p.body.detail, /handler exploded/);
  assert.not.ok(p.body.stack, 'no stack trace leaks to the caller');
  // The stack trace in the function's logs names the TypeScript source line (source maps).
  let logs = '';
  for (let i = 0; i < 50 && !logs.includes('index.ts:'); i++) {
    logs = (await d.cli(['logs', 'throws-in-handler', '--invocation', p.body.invocation])).stdout;
    if (!logs.includes('index.ts:')) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(logs, /at fail \(.*index\.ts:2:9\)/);
  await echoStillServes();
});

test('a handler that never answers: 504 function_timeout naming the limit', async () => {
  await deploy(d, path.join(FIXTURES, 'hangs'));
  const p = await problem(`${d.url}/fn/hangs/`);
  assert.is(p.status, 504);
  assert.is(p.body.code, 'function_timeout');
  assert.is(p.body.phase, 'timeout');
  assert.is(p.body.timeoutMs, 500);
  await echoStillServes();
});

test('a function that returns something other than a Response', async () => {
  await deploy(d, path.join(FIXTURES, 'not-response'));
  const p = await problem(`${d.url}/fn/not-response/`);
  assert.is(p.status, 500);
  assert.is(p.body.code, 'function_invalid_response');
  assert.match(p.body.detail, /returned string, not a Response/);
});

test('a function that exits its process: 502 function_crashed, then a replacement serves', async () => {
  await deploy(d, path.join(FIXTURES, 'exits'));
  const before = await request(`${d.url}/fn/exits/ok`);
  const firstPid = await before.body.text();
  const p = await problem(`${d.url}/fn/exits/exit`);
  assert.is(p.status, 502);
  assert.is(p.body.code, 'function_crashed');
  assert.is(p.body.phase, 'handler');
  let after = '';
  for (let i = 0; i < 100; i++) {
    const res = await request(`${d.url}/fn/exits/ok`);
    after = await res.body.text();
    if (res.statusCode === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(after, /^ok from [0-9a-f-]{36}$/);
  assert.is.not(after, firstPid, 'a new instance answers');
});

test('unknown function, bad names', async () => {
  const p = await problem(`${d.url}/fn/missing/`);
  assert.is(p.status, 404);
  assert.is(p.body.code, 'function_not_found');
  for (const [name, why] of [
    ['a..b', '".."'],
    ['a%2Fb', '"/"'],
    ['a%00b', 'NUL'],
    ['x'.repeat(64), 'limit is 63'],
    ['UPPER', 'lowercase'],
  ]) {
    const q = await problem(`${d.url}/fn/${name}/`);
    assert.is(q.status, 400, name);
    assert.is(q.body.code, 'invalid_name', name);
    assert.ok(String(q.body.detail).includes(why), `${name}: ${q.body.detail}`);
  }
  const r = await d.cli(['deploy', path.join(FIXTURES, 'echo'), '--name', 'a/b']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /\[invalid_name\]/);
});

test('a body over the limit: 413, declared or streamed', async () => {
  const big = 'x'.repeat(2048); // echo's ignition.json allows 1024 bytes
  const declared = await problem(`${d.url}/fn/echo/`, { method: 'POST', body: big });
  assert.is(declared.status, 413);
  assert.is(declared.body.code, 'payload_too_large');
  async function* chunks() {
    for (let i = 0; i < 4; i++) yield Buffer.from(big);
  }
  const streamed = await problem(`${d.url}/fn/echo/`, { method: 'POST', body: Readable.from(chunks()) });
  assert.is(streamed.status, 413);
  assert.is(streamed.body.code, 'payload_too_large');
  await echoStillServes();
});

test('bad settings and env flags get a one-line error', async () => {
  const dir = tempDir('ign-fn-');
  cpSync(path.join(FIXTURES, 'echo'), dir, { recursive: true });
  writeFileSync(path.join(dir, 'ignition.json'), JSON.stringify({ timeoutMs: -5, bogus: 1 }));
  const r = await d.cli(['deploy', dir, '--name', 'badcfg']);
  assert.is(r.code, 1);
  assert.match(r.stderr, /timeoutMs must be an integer.*bogus is not a known setting.*\[config_invalid\]/);
  const e = await d.cli(['deploy', path.join(FIXTURES, 'echo'), '--env', 'NOEQUALS']);
  assert.is(e.code, 1);
  assert.match(e.stderr, /--env "NOEQUALS" must be KEY=VALUE/);
});

test('unknown routes and malformed API bodies are problems too', async () => {
  const nf = await problem(`${d.url}/v1/nothing`, { headers: d.auth() });
  assert.is(nf.status, 404);
  assert.is(nf.body.code, 'not_found');
  const bad = await problem(`${d.url}/v1/functions/x/deployments`, {
    method: 'POST',
    body: '{not json',
    headers: { ...d.auth(), 'content-type': 'application/json' },
  });
  assert.is(bad.status, 400);
  assert.is(bad.body.code, 'bad_request');
});

test('the CLI says so when the daemon is not there', async () => {
  const r = await d.cli(['ls'], { env: { IGNITION_HOST: 'http://127.0.0.1:1' } });
  assert.is(r.code, 1);
  assert.match(r.stderr, /cannot reach the daemon at http:\/\/127\.0\.0\.1:1 .*\[daemon_unreachable\]/);
});

test.run();
