/**
 * The queue and worker against a real SQLite file and a real HTTP "function": success, retries on
 * 5xx and platform errors, 4xx final, dead letters and redrive, bounded concurrency, result
 * truncation, idempotency keys, shutdown with work in flight, and the pure retry policy.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Store } from '../../platform/store/db.ts';
import { AsyncService, type AsyncServiceOptions } from '../../platform/async/service.ts';
import { asyncMigrations } from '../../platform/async/schema.ts';
import { backoffDelay, judge, DEFAULT_BACKOFF } from '../../platform/async/retry.ts';
import { FunctionNotFound, FunctionTimeout, QueueFull } from '../../platform/functions/errors.ts';
import { IgnitionError } from '../../platform/errors.ts';
import { FAST_BACKOFF, functionServer, httpInvoke, tempDir, waitFor } from './support.ts';

const req = (
  over: Partial<{ method: string; path: string; body: Buffer; headers: Record<string, string>; maxAttempts: number; idempotencyKey: string }> = {},
) => ({
  method: 'POST',
  path: '/',
  headers: {},
  body: Buffer.from('payload'),
  ...over,
});

async function setup(opts: Partial<AsyncServiceOptions> = {}) {
  const tmp = tempDir();
  const store: Store = openDatabase(tmp.file, asyncMigrations);
  const fn = await functionServer();
  const service = AsyncService.open({ store, invoke: httpInvoke(fn.url), exists: (n) => n !== 'ghost', backoff: FAST_BACKOFF, ...opts });
  const done = (id: string) => waitFor(() => ['succeeded', 'dead'].includes(service.get(id).status) && service.get(id), `invocation ${id} to finish`);
  return {
    store,
    fn,
    service,
    done,
    async close() {
      await service.close(1000);
      store.close();
      await fn.close();
      tmp.cleanup();
    },
  };
}

test('an async invocation runs once and keeps its result', async () => {
  const t = await setup();
  try {
    t.fn.handler = (s, res) => res.writeHead(201, { 'content-type': 'text/plain', 'x-echo': s.path }).end(`got ${s.body.toString()}`);
    const { invocation, duplicate } = t.service.enqueue('hello', req({ path: '/jobs?x=1', headers: { 'x-user': 'ada' } }));
    assert.is(duplicate, false);
    assert.is(invocation.status, 'queued');
    assert.is(invocation.statusUrl, `/v1/invocations/${invocation.id}`);
    const done = await t.done(invocation.id);
    assert.is(done.status, 'succeeded');
    assert.is(done.attempts, 1);
    assert.is(done.lastError, null);
    assert.is(done.result?.status, 201);
    assert.is(done.result?.body, 'got payload');
    assert.is(done.result?.headers['x-echo'], '/jobs?x=1');
    assert.ok(done.finishedAt);
    const seen = t.fn.seen.filter((s) => s.invocationId === invocation.id);
    assert.is(seen.length, 1);
    assert.is(seen[0].attempt, '1');
    assert.is(seen[0].method, 'POST');
    assert.is(seen[0].headers['x-user'], 'ada');
  } finally {
    await t.close();
  }
});

test('5xx answers are retried with back-off until one succeeds', async () => {
  const t = await setup();
  try {
    t.fn.handler = (s, res) => (s.attempt === '3' ? res.end('third time') : res.writeHead(503).end('busy'));
    const { invocation } = t.service.enqueue('hello', req());
    const done = await t.done(invocation.id);
    assert.is(done.status, 'succeeded');
    assert.is(done.attempts, 3);
    assert.is(done.result?.body, 'third time');
    assert.equal(
      t.fn.seen.map((s) => s.attempt),
      ['1', '2', '3'],
    );
  } finally {
    await t.close();
  }
});

test('while a retry is pending the invocation is "failed" with the error and the next attempt time', async () => {
  const t = await setup({ backoff: { baseMs: 60 * 60_000, maxMs: 60 * 60_000, factor: 2, jitter: 0 } });
  try {
    t.fn.handler = (_s, res) => res.writeHead(500).end('boom');
    const { invocation } = t.service.enqueue('hello', req());
    const pending = await waitFor(() => t.service.get(invocation.id).status === 'failed' && t.service.get(invocation.id), 'the first attempt to fail');
    assert.is(pending.attempts, 1);
    assert.equal(pending.lastError, { code: 'function_error_status', message: 'function hello answered 500' });
    assert.is(pending.result?.status, 500);
    assert.ok(Date.parse(pending.nextAttemptAt!) >= Date.parse(pending.updatedAt) + 59 * 60_000);
    assert.equal(t.service.stats().queueDepth, { hello: 1 });
  } finally {
    await t.close();
  }
});

test('a 4xx answer is final: dead after one attempt, listed as a dead letter', async () => {
  const t = await setup();
  try {
    t.fn.handler = (_s, res) => res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such user"}');
    const { invocation } = t.service.enqueue('hello', req());
    const done = await t.done(invocation.id);
    assert.is(done.status, 'dead');
    assert.is(done.attempts, 1);
    assert.is(done.lastError?.code, 'invocation_rejected');
    assert.is(done.result?.status, 404);
    assert.equal(
      t.service.deadLetters('hello').map((d) => d.id),
      [invocation.id],
    );
  } finally {
    await t.close();
  }
});

test('platform errors are retried up to maxAttempts, then dead; retry re-queues with fresh attempts', async () => {
  let fail = true;
  const calls: number[] = [];
  const t = await setup({
    invoke: async (job) => {
      calls.push(Number(job.headers['x-ignition-attempt']));
      if (fail) throw FunctionTimeout(`function ${job.fn} did not finish within its timeout of 10 ms`);
      return { status: 200, headers: {}, body: Buffer.from('fine now') };
    },
  });
  try {
    const { invocation } = t.service.enqueue('hello', req({ maxAttempts: 2 }));
    const dead = await t.done(invocation.id);
    assert.is(dead.status, 'dead');
    assert.is(dead.attempts, 2);
    assert.is(dead.maxAttempts, 2);
    assert.is(dead.lastError?.code, 'function_timeout');
    assert.match(dead.lastError!.message, /timeout of 10 ms/);
    assert.equal(calls, [1, 2]);

    assert.throws(
      () => t.service.retry('inv_nope'),
      (e: IgnitionError) => e.code === 'invocation_not_found',
    );
    fail = false;
    const again = t.service.retry(invocation.id);
    assert.is(again.status, 'queued');
    assert.is(again.attempts, 0);
    const done = await t.done(invocation.id);
    assert.is(done.status, 'succeeded');
    assert.is(done.attempts, 1);
    assert.is(done.result?.body, 'fine now');
    assert.equal(t.service.deadLetters('hello'), []);
    assert.throws(
      () => t.service.retry(invocation.id),
      (e: IgnitionError) => e.code === 'invocation_not_retryable' && e.status === 409,
    );
  } finally {
    await t.close();
  }
});

test('errors about the request itself are not retried', async () => {
  let calls = 0;
  const t = await setup({
    invoke: async (job) => {
      calls++;
      throw FunctionNotFound(`no function "${job.fn}"`);
    },
  });
  try {
    const { invocation } = t.service.enqueue('hello', req({ maxAttempts: 5 }));
    const done = await t.done(invocation.id);
    assert.is(done.status, 'dead');
    assert.is(done.attempts, 1);
    assert.is(calls, 1);
    assert.is(done.lastError?.code, 'function_not_found');
  } finally {
    await t.close();
  }
});

test('concurrency is bounded per function and overall', async () => {
  const release: Array<() => void> = [];
  const active = new Map<string, number>();
  let most = 0;
  const mostPer = new Map<string, number>();
  const t = await setup({
    concurrency: 3,
    perFunctionConcurrency: 2,
    invoke: async (job) => {
      active.set(job.fn, (active.get(job.fn) ?? 0) + 1);
      mostPer.set(job.fn, Math.max(mostPer.get(job.fn) ?? 0, active.get(job.fn)!));
      most = Math.max(
        most,
        [...active.values()].reduce((a, b) => a + b, 0),
      );
      await new Promise<void>((r) => release.push(r));
      active.set(job.fn, active.get(job.fn)! - 1);
      return { status: 200, headers: {}, body: Buffer.alloc(0) };
    },
  });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(t.service.enqueue('alpha', req()).invocation.id);
    for (let i = 0; i < 5; i++) ids.push(t.service.enqueue('beta', req()).invocation.id);
    // The worker fills up to the overall limit and then holds.
    await waitFor(() => release.length === 3, 'three attempts to be running');
    assert.is(t.service.stats().byStatus.running, 3);
    assert.ok((active.get('alpha') ?? 0) <= 2 && (active.get('beta') ?? 0) <= 2);
    // Let everything through, one release at a time as attempts arrive.
    let finished = 0;
    await waitFor(() => {
      while (release.length) {
        release.shift()!();
        finished++;
      }
      return ids.every((id) => t.service.get(id).status === 'succeeded');
    }, 'every invocation to succeed');
    assert.is(finished, 10);
    assert.is(most, 3);
    assert.is(mostPer.get('alpha'), 2);
    assert.is(mostPer.get('beta'), 2);
  } finally {
    await t.close();
  }
});

test('results are truncated at the configured size; binary bodies come back as base64', async () => {
  const t = await setup({ resultLimitBytes: 10 });
  try {
    t.fn.handler = (s, res) => res.end(s.path === '/bin' ? Buffer.from([0xff, 0xfe, 0x00, 0x01]) : 'x'.repeat(25));
    const text = t.service.enqueue('hello', req({ path: '/text' })).invocation.id;
    const bin = t.service.enqueue('hello', req({ path: '/bin' })).invocation.id;
    const a = await t.done(text);
    assert.is(a.result?.body, 'x'.repeat(10));
    assert.is(a.result?.size, 25);
    assert.is(a.result?.truncated, true);
    const b = await t.done(bin);
    assert.is(b.result?.body, undefined);
    assert.is(b.result?.bodyBase64, Buffer.from([0xff, 0xfe, 0x00, 0x01]).toString('base64'));
    assert.is(b.result?.truncated, false);
  } finally {
    await t.close();
  }
});

test('an idempotency key queues one invocation per function', async () => {
  const t = await setup();
  try {
    const first = t.service.enqueue('hello', req({ idempotencyKey: 'order-42' }));
    const second = t.service.enqueue('hello', req({ idempotencyKey: 'order-42' }));
    const other = t.service.enqueue('other', req({ idempotencyKey: 'order-42' }));
    assert.is(second.invocation.id, first.invocation.id);
    assert.is(second.duplicate, true);
    assert.is.not(other.invocation.id, first.invocation.id);
    await t.done(first.invocation.id);
    await t.done(other.invocation.id);
    assert.is(t.fn.callsOf(first.invocation.id), 1);
  } finally {
    await t.close();
  }
});

test('unknown functions are refused before anything is stored', async () => {
  const t = await setup();
  try {
    assert.throws(
      () => t.service.enqueue('ghost', req()),
      (e: IgnitionError) => e.code === 'function_not_found' && e.status === 404,
    );
    assert.equal(t.service.jobs.all(), []);
  } finally {
    await t.close();
  }
});

test('close waits up to its deadline, then re-queues attempts still running; the next start runs them', async () => {
  const tmp = tempDir();
  let store = openDatabase(tmp.file, asyncMigrations);
  const hang = AsyncService.open({ store, exists: () => true, invoke: () => new Promise(() => {}) });
  const { invocation } = hang.enqueue('hello', req());
  await waitFor(() => hang.get(invocation.id).status === 'running', 'the attempt to start');
  await hang.close(20);
  assert.throws(
    () => hang.enqueue('hello', req()),
    (e: IgnitionError) => e.code === 'shutting_down',
  );
  const parked = hang.get(invocation.id);
  assert.is(parked.status, 'queued');
  assert.is(parked.attempts, 1);
  assert.is(parked.lastError?.code, 'invocation_interrupted');
  store.close();

  store = openDatabase(tmp.file, asyncMigrations);
  const ok = AsyncService.open({ store, exists: () => true, invoke: async () => ({ status: 200, headers: {}, body: Buffer.from('done') }) });
  try {
    const done = await waitFor(() => ok.get(invocation.id).status === 'succeeded' && ok.get(invocation.id), 'the re-queued attempt');
    assert.is(done.attempts, 2);
    assert.is(done.lastError, null);
  } finally {
    await ok.close();
    store.close();
    tmp.cleanup();
  }
});

test('stats count jobs by status and queue depth by function', async () => {
  const t = await setup({ invoke: () => new Promise(() => {}), concurrency: 1 });
  try {
    t.service.enqueue('alpha', req());
    t.service.enqueue('alpha', req());
    t.service.enqueue('beta', req());
    await waitFor(() => t.service.stats().byStatus.running === 1, 'one attempt to run');
    const s = t.service.stats();
    assert.equal(s.byStatus, { queued: 2, running: 1, succeeded: 0, failed: 0, dead: 0 });
    assert.is(
      Object.values(s.queueDepth).reduce((a, b) => a + b, 0),
      2,
    );
    assert.is(
      Object.values(s.running).reduce((a, b) => a + b, 0),
      1,
    );
  } finally {
    await t.close();
  }
});

test('back-off: base 1 s, factor 2, capped at 5 min, ±20 % jitter', () => {
  const table: Array<[number, number]> = [
    [1, 1000],
    [2, 2000],
    [3, 4000],
    [4, 8000],
    [8, 128_000],
    [9, 256_000],
    [10, 300_000],
    [30, 300_000],
  ];
  for (const [attempt, ms] of table) {
    assert.is(
      backoffDelay(attempt, DEFAULT_BACKOFF, () => 0.5),
      ms,
      `attempt ${attempt}`,
    );
    assert.is(
      backoffDelay(attempt, DEFAULT_BACKOFF, () => 0),
      Math.round(ms * 0.8),
      `attempt ${attempt}, least jitter`,
    );
    assert.is(
      backoffDelay(attempt, DEFAULT_BACKOFF, () => 1),
      Math.min(300_000, Math.round(ms * 1.2)),
      `attempt ${attempt}, most jitter`,
    );
  }
});

test('judge: which outcomes retry, which are final', () => {
  const r = (status: number) => ({ result: { status, headers: {}, body: Buffer.alloc(0) } });
  const cases: Array<[string, ReturnType<typeof judge>['kind']]> = [];
  cases.push([JSON.stringify(judge(r(200), 'f').kind), 'succeeded']);
  cases.push([JSON.stringify(judge(r(302), 'f').kind), 'succeeded']);
  cases.push([JSON.stringify(judge(r(400), 'f').kind), 'rejected']);
  cases.push([JSON.stringify(judge(r(404), 'f').kind), 'rejected']);
  cases.push([JSON.stringify(judge(r(429), 'f').kind), 'retry']);
  cases.push([JSON.stringify(judge(r(408), 'f').kind), 'retry']);
  cases.push([JSON.stringify(judge(r(500), 'f').kind), 'retry']);
  cases.push([JSON.stringify(judge({ error: FunctionTimeout('t') }, 'f').kind), 'retry']);
  cases.push([JSON.stringify(judge({ error: new Error('socket hang up') }, 'f').kind), 'retry']);
  cases.push([JSON.stringify(judge({ error: FunctionNotFound('n') }, 'f').kind), 'final']);
  for (const [got, want] of cases) assert.is(got, JSON.stringify(want));
  const full = judge({ error: QueueFull('full', { data: { retryAfterSeconds: 7 } }) }, 'f');
  assert.is(full.kind === 'retry' && full.minDelayMs, 7000);
  const slow = judge({ result: { status: 429, headers: { 'retry-after': '3' }, body: Buffer.alloc(0) } }, 'f');
  assert.is(slow.kind === 'retry' && slow.minDelayMs, 3000);
});

test.run();
