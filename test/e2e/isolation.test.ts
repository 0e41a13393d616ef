/**
 * Instance pools: fresh isolation gives every request its own instance (spares started ahead so
 * steady traffic does not wait), reuse isolation shares instances, and the pool replaces instances
 * in the background.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { request } from 'undici';
import { deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after(async () => {
  await d?.stop();
});

const get = async (url: string) => {
  const res = await request(url);
  return { status: res.statusCode, body: (await res.body.json()) as { instance: string; count: number } };
};

const getAny = async (url: string) => {
  const res = await request(url);
  return { status: res.statusCode, body: (await res.body.json()) as unknown };
};

test('fresh isolation: one instance per request, never reused', async () => {
  await deploy(d, path.join(FIXTURES, 'fresh-counter'));
  const seen = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const r = await get(`${d.url}/fn/fresh-counter/`);
    assert.is(r.status, 200);
    assert.is(r.body.count, 1, 'each instance serves exactly one request');
    seen.add(r.body.instance);
  }
  assert.is(seen.size, 8);
  // Concurrent requests also each get their own instance. A burst may outrun the host's starts:
  // what they cannot serve within about a second is refused with 429 (test/e2e/fresh-overload.test.ts).
  const burst = await Promise.all(Array.from({ length: 6 }, () => getAny(`${d.url}/fn/fresh-counter/`)));
  const served = burst.filter((r) => r.status === 200).map((r) => r.body as { instance: string; count: number });
  assert.ok(served.length >= 1, `statuses: ${burst.map((r) => r.status).join(',')}`);
  for (const r of burst) if (r.status !== 200) assert.is((r.body as { code: string }).code, 'queue_full');
  for (const b of served) assert.is(b.count, 1);
  assert.is(new Set(served.map((b) => b.instance)).size, served.length);
});

test('fresh isolation keeps a spare ready between requests', async () => {
  // After traffic, the pool has an idle, unused instance waiting (started ahead of demand).
  let spare = 0;
  for (let i = 0; i < 100 && spare === 0; i++) {
    const fn = JSON.parse((await d.cli(['ls', '--json'])).stdout).find((f: { name: string }) => f.name === 'fresh-counter');
    spare = fn.pools.reduce((n: number, p: { idle: number }) => n + p.idle, 0);
    if (!spare) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(spare >= 1, 'an idle spare exists');
});

test('reuse isolation: requests share a warm instance', async () => {
  await deploy(d, path.join(FIXTURES, 'counter'));
  const a = await get(`${d.url}/fn/counter/`);
  const b = await get(`${d.url}/fn/counter/`);
  assert.is(a.body.instance, b.body.instance);
  assert.is(b.body.count, a.body.count + 1);
});

test('deploy flags override the function settings', async () => {
  await deploy(d, path.join(FIXTURES, 'counter'), ['--name', 'counter-fresh', '--isolation', 'fresh']);
  const a = await get(`${d.url}/fn/counter-fresh/`);
  const b = await get(`${d.url}/fn/counter-fresh/`);
  assert.is.not(a.body.instance, b.body.instance);
  const info = JSON.parse((await d.cli(['ls', '--json'])).stdout).find((f: { name: string }) => f.name === 'counter-fresh');
  assert.is(info.settings.isolation, 'fresh');
});

test('queue full: 429 with Retry-After when at maxInstances and the queue is full', async () => {
  await deploy(d, path.join(FIXTURES, 'slow'), ['--name', 'tiny', '--max-instances', '1', '--concurrency', '1', '--min-warm', '1']);
  // Settings via flags cannot set queueSize; use the API to deploy with queueSize 1.
  const bundle = await (await import('../../platform/functions/bundle.ts')).bundleFunction(path.join(FIXTURES, 'slow'));
  const res = await request(`${d.url}/v1/functions/tiny/deployments`, {
    method: 'POST',
    headers: { ...d.auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ code: bundle.code, map: bundle.map, settings: { maxInstances: 1, concurrency: 1, minWarm: 1, queueSize: 1 } }),
  });
  assert.ok(res.statusCode === 201 || res.statusCode === 200, `deploy: ${res.statusCode}`);
  await res.body.text();
  const results = await Promise.all(
    Array.from({ length: 5 }, () =>
      request(`${d.url}/fn/tiny/?ms=300`).then(async (r) => ({ status: r.statusCode, retry: r.headers['retry-after'], body: await r.body.text() })),
    ),
  );
  const ok = results.filter((r) => r.status === 200);
  const limited = results.filter((r) => r.status === 429);
  assert.ok(ok.length >= 2, `one running and one queued succeed (${results.map((r) => r.status)})`);
  assert.ok(limited.length >= 1, 'the rest are refused');
  assert.is(limited[0].retry, '1');
  assert.is(JSON.parse(limited[0].body).code, 'queue_full');
});

test.run();
