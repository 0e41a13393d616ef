/**
 * End to end through the real CLI and a real daemon: deploy, invoke (pass-through of method, path,
 * query, headers and body; streaming), redeploy, ls, logs with invocation ids, 100 concurrent
 * invokes, rm.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { request } from 'undici';
import { spawn } from 'node:child_process';
import { CLI, deploy, FIXTURES, ROOT, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;

test.before(async () => {
  d = await startTestDaemon();
});
test.after(async () => {
  await d?.stop();
});

test('deploy prints the URL and invoke answers', async () => {
  const r = await d.cli(['deploy', path.join(ROOT, 'functions/hello')]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout.trim(), `${d.url}/fn/hello/`);
  const inv = await d.cli(['invoke', 'hello', '--path', '/?name=ada']);
  assert.is(inv.code, 0, inv.stderr);
  assert.is(inv.stdout, 'Hello, ada!\n');
});

test('method, path, query, headers and body pass through', async () => {
  await deploy(d, path.join(FIXTURES, 'echo'), ['--env', 'FOO=bar']);
  const res = await request(`${d.url}/fn/echo/a/b%20c?x=1&y=%2F`, {
    method: 'PUT',
    headers: { 'x-custom': 'v1', 'content-type': 'text/plain' },
    body: 'payload',
  });
  assert.is(res.statusCode, 200);
  assert.is(res.headers['x-echo'], 'yes');
  const echo = (await res.body.json()) as Record<string, any>;
  assert.is(echo.method, 'PUT');
  assert.is(echo.path, '/a/b%20c');
  assert.is(echo.query, '?x=1&y=%2F');
  assert.is(echo.headers['x-custom'], 'v1');
  assert.is(echo.body, 'payload');
  assert.equal(echo.env, { FOO: 'bar' });
  // The invocation id reaches the function and comes back as the request id.
  assert.is(res.headers['x-request-id'], echo.invocationId);
});

test('CLI invoke sends data, method and headers', async () => {
  const r = await d.cli(['invoke', 'echo', '--path', '/p', '-X', 'POST', '-H', 'x-a:1', '--data', 'hello']);
  assert.is(r.code, 0, r.stderr);
  const echo = JSON.parse(r.stdout);
  assert.is(echo.method, 'POST');
  assert.is(echo.headers['x-a'], '1');
  assert.is(echo.body, 'hello');
});

test('responses stream: the first chunk arrives before the function finishes', async () => {
  await deploy(d, path.join(ROOT, 'functions/stream'));
  const res = await request(`${d.url}/fn/stream/?count=3&interval=400`);
  const it = res.body[Symbol.asyncIterator]();
  const first = (await it.next()).value.toString();
  assert.match(first, /chunk 1 of 3/);
  assert.not.match(first, /chunk 3 of 3/);
  let rest = '';
  for (let n = await it.next(); !n.done; n = await it.next()) rest += n.value.toString();
  assert.match(rest, /chunk 3 of 3/);
});

test('a client gone mid-stream releases the instance at once, not when the stream would end', async () => {
  // Deployed by the test above. 40 chunks 250 ms apart: the function streams for 10 s.
  const res = await request(`${d.url}/fn/stream/?count=40&interval=250`);
  const it = res.body[Symbol.asyncIterator]();
  assert.match((await it.next()).value.toString(), /chunk 1 of 40/);
  const busy = await inflight(d, 'stream');
  assert.is(busy, 1, 'the instance serves the stream');
  res.body.destroy();
  let left = busy;
  for (let i = 0; i < 50 && left > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await inflight(d, 'stream');
  }
  assert.is(left, 0, 'the instance was released within 5 s of the client leaving, with 9 s of the stream still to go');
});

async function inflight(daemon: TestDaemon, fn: string): Promise<number> {
  const r = await request(`${daemon.url}/v1/functions/${fn}/instances`, { headers: daemon.auth() });
  const body = (await r.body.json()) as { instances: Array<{ inflight: number }> };
  return body.instances.reduce((n, i) => n + i.inflight, 0);
}

test('a dependency from npm is bundled (hono)', async () => {
  await deploy(d, path.join(ROOT, 'functions/hono-app'));
  const res = await request(`${d.url}/fn/hono-app/users/42`);
  assert.equal(await res.body.json(), { id: '42', name: 'user-42' });
});

test('redeploy moves latest to a new version; the same content is not rebuilt', async () => {
  const v1 = await deploy(d, path.join(FIXTURES, 'echo'), ['--env', 'FOO=bar']);
  assert.is(v1.created, false);
  const v2 = await deploy(d, path.join(FIXTURES, 'echo'), ['--env', 'FOO=baz']);
  assert.is(v2.created, true);
  assert.is(v2.version.seq, v1.version.seq + 1);
  const echo = (await (await request(`${d.url}/fn/echo/`)).body.json()) as Record<string, any>;
  assert.equal(echo.env, { FOO: 'baz' });
  const versions = await d.cli(['versions', 'echo', '--json']);
  assert.is(JSON.parse(versions.stdout).length, 2);
});

test('ls lists functions with their version', async () => {
  const r = await d.cli(['ls', '--json']);
  assert.is(r.code, 0);
  const names = JSON.parse(r.stdout).map((f: { name: string }) => f.name);
  for (const n of ['echo', 'hello', 'hono-app', 'stream']) assert.ok(names.includes(n), `${n} listed`);
  const human = await d.cli(['ls']);
  assert.match(human.stdout, /hello\s+v1/);
});

test('logs carry the invocation id', async () => {
  const res = await request(`${d.url}/fn/hello/?name=logtest`);
  const id = res.headers['x-request-id'] as string;
  await res.body.text();
  let lines = '';
  for (let i = 0; i < 50 && !lines.includes('logtest'); i++) {
    lines = (await d.cli(['logs', 'hello', '--invocation', id])).stdout;
    if (!lines.includes('logtest')) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(lines, new RegExp(`${id} info\\s+greeting logtest`));
  // --level keeps that level and the more severe ones: the info line is not a warning.
  const info = await d.cli(['logs', 'hello', '--invocation', id, '--level', 'info']);
  assert.match(info.stdout, /greeting logtest/);
  const warn = await d.cli(['logs', 'hello', '--invocation', id, '--level', 'warn']);
  assert.is(warn.code, 0);
  assert.not.match(warn.stdout, /greeting logtest/);
  const bogus = await d.cli(['logs', 'hello', '--level', 'loud']);
  assert.is(bogus.code, 1);
  assert.match(bogus.stderr, /"level" must be one of debug, info, warn, error/);
  assert.is(bogus.stderr.trim().split('\n').length, 1);
});

test('logs -f streams new lines as they happen', async () => {
  const child = spawn(process.execPath, [CLI, 'logs', 'hello', '-f', '--limit', '1'], {
    env: { ...process.env, IGNITION_HOST: d.url, IGNITION_DATA_DIR: d.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  try {
    // Wait until the stream is open (the backlog line arrived), then make a new line.
    for (let i = 0; i < 100 && !out.includes('greeting'); i++) await new Promise((r) => setTimeout(r, 100));
    const res = await request(`${d.url}/fn/hello/?name=followed`);
    const id = res.headers['x-request-id'] as string;
    await res.body.text();
    for (let i = 0; i < 100 && !out.includes('followed'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, new RegExp(`${id} info\\s+greeting followed`));
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
});

test('100 concurrent invokes all succeed', async () => {
  const results = await Promise.all(
    Array.from({ length: 100 }, (_, i) => request(`${d.url}/fn/hello/?name=n${i}`).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }))),
  );
  assert.is(results.filter((r) => r.status === 200).length, 100);
  results.forEach((r, i) => assert.is(r.text, `Hello, n${i}!\n`));
});

test('rm removes the function; invoking it is then a 404 problem', async () => {
  const r = await d.cli(['rm', 'stream']);
  assert.is(r.code, 0, r.stderr);
  const res = await request(`${d.url}/fn/stream/`);
  assert.is(res.statusCode, 404);
  assert.is(res.headers['content-type'], 'application/problem+json');
  assert.is(((await res.body.json()) as { code: string }).code, 'function_not_found');
  const again = await d.cli(['rm', 'stream']);
  assert.is(again.code, 1);
  assert.match(again.stderr, /^error: no function named "stream" \[function_not_found\]\n$/);
});

test.run();
