/**
 * Fresh isolation past its capacity (platform/functions/pool.ts, docs/ISOLATION.md): a burst of
 * requests that outruns the instance starts is answered, not left to wait for seconds. The pool
 * queues what its starts can serve shortly and refuses the rest at once with problem+json
 * `queue_full` (429) and a Retry-After; every request it serves still gets an instance of its own.
 * The function's warmup() takes 300 ms, so its starts are slow on any host. The only timing
 * bound is a generous one: before, the burst queued (the default queueSize is 100) and took
 * seconds, served one start after another. And when starts turn slower than the pool measured
 * (a second function's starts go from quick to 3 s), what it queued on the old estimate is refused
 * at the wait bound instead of held for a start.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
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

test('requests queued for starts slower than the pool measured are refused at the wait bound, not held for seconds', async () => {
  const slow = await startTestDaemon({ env: { IGNITION_SANDBOX: 'none' } });
  try {
    await deploy(slow, path.join(FIXTURES, 'fresh-slows-down'));
    const url = `${slow.url}/fn/fresh-slows-down/`;
    // Quick starts first: the pool measures them and sizes its queue from them.
    for (let i = 0; i < 3; i++) {
      const r = await request(url);
      assert.is(r.statusCode, 200);
      await r.body.text();
    }
    writeFileSync(path.join(slow.dataDir, 'slow-starts'), '');
    // The instances started ahead of these requests were quick; what they cannot serve is queued
    // for starts that now take 3 s each.
    const burst = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const t = performance.now();
        const r = await request(url);
        const body = await r.body.text();
        return { status: r.statusCode, retry: r.headers['retry-after'], body, ms: performance.now() - t };
      }),
    );
    const refused = burst.filter((r) => r.status === 429);
    assert.is(refused.length + burst.filter((r) => r.status === 200).length, burst.length, burst.map((r) => r.status).join(','));
    assert.ok(refused.length > 0, 'queued requests past the bound are refused');
    for (const r of refused) {
      assert.is(JSON.parse(r.body).code, 'queue_full');
      assert.ok(Number(r.retry) >= 1, `Retry-After: ${r.retry}`);
    }
    // Generous: a start takes 3 s, so a refusal that came sooner was not held for one.
    const slowestRefusal = Math.max(...refused.map((r) => r.ms));
    assert.ok(slowestRefusal < 2500, `refused before a start could serve them (slowest ${Math.round(slowestRefusal)} ms)`);
  } finally {
    await slow.stop();
  }
});

test.run();
