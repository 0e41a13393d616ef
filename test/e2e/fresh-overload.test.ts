/**
 * Fresh isolation past its capacity (platform/functions/pool.ts, docs/ISOLATION.md): a burst of
 * requests that outruns the instance starts is answered, not left to wait for seconds. The pool
 * queues what its starts can serve shortly and refuses the rest at once with problem+json
 * `queue_full` (429) and a Retry-After; every request it serves still gets an instance of its own.
 * The function's warmup() takes 300 ms, so its starts are slow on any host. The only timing
 * bound is a generous one: before, the burst queued (the default queueSize is 100) and took
 * seconds, served one start after another.
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

test('a burst beyond fresh capacity gets 429 with Retry-After quickly, and the rest is served fresh', async () => {
  await deploy(d, path.join(FIXTURES, 'fresh-slow-start'));
  const url = `${d.url}/fn/fresh-slow-start/`;
  // One request first, so the pool has measured a start (its queue is sized from it).
  const first = await request(url);
  assert.is(first.statusCode, 200);
  await first.body.text();
  const burst = await Promise.all(
    Array.from({ length: 60 }, async () => {
      const t = performance.now();
      const r = await request(url);
      const body = await r.body.text();
      return { status: r.statusCode, retry: r.headers['retry-after'], type: r.headers['content-type'], body, ms: performance.now() - t };
    }),
  );
  const served = burst.filter((r) => r.status === 200);
  const refused = burst.filter((r) => r.status === 429);
  assert.is(served.length + refused.length, burst.length, `only 200 and 429: ${burst.map((r) => r.status).join(',')}`);
  assert.ok(refused.length > 0, 'the requests the starts cannot serve shortly are refused');
  assert.ok(served.length > 0, 'what the starts can serve is served');
  for (const r of refused) {
    assert.match(String(r.type), /application\/problem\+json/);
    assert.is(JSON.parse(r.body).code, 'queue_full');
    assert.ok(Number(r.retry) >= 1, `Retry-After: ${r.retry}`);
  }
  const instances = new Set(served.map((r) => (JSON.parse(r.body) as { instance: string; count: number }).instance));
  assert.is(instances.size, served.length, 'one instance per served request');
  // Generous: a refusal is answered well before the burst could have been served by starts.
  const slowestRefusal = Math.max(...refused.map((r) => r.ms));
  assert.ok(slowestRefusal < 5000, `refused within 5 s (slowest ${Math.round(slowestRefusal)} ms)`);
});

test.run();
