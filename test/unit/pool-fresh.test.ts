/**
 * Fresh isolation's decisions (platform/functions/pool.ts), as pure functions: how many instances
 * it wants ahead of its requests, how many requests it queues before it refuses, and the
 * Retry-After of a refusal. No timing is asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRESH_IDLE_CPUS, FRESH_MAX_WAIT_MS, freshQueueLimit, freshRetryAfterSeconds, freshSpares, freshStartsAllowed } from '../../platform/functions/pool.ts';

test('freshSpares: rate × start time (Little’s law) plus one, none without traffic', () => {
  assert.is(freshSpares({ ratePerSec: 0, startMs: 300 }), 0);
  assert.is(freshSpares({ ratePerSec: 10, startMs: 300 }), 4, '3 arrive while one start runs, plus one');
  assert.is(freshSpares({ ratePerSec: 10, startMs: 0 }), 1, 'no start measured yet: one ahead');
  assert.is(freshSpares({ ratePerSec: 2.5, startMs: 1000 }), 4);
});

test('freshStartsAllowed: one start per CPU always, more only while the host has idle CPU', () => {
  const busy = { cpus: 2, idleCpus: FRESH_IDLE_CPUS - 0.1 };
  assert.is(freshStartsAllowed(5, { ...busy, starting: 0 }), 2, 'a saturated host still starts one per CPU');
  assert.is(freshStartsAllowed(5, { ...busy, starting: 1 }), 1);
  assert.is(freshStartsAllowed(5, { ...busy, starting: 3 }), 0, 'never negative');
  assert.is(freshStartsAllowed(5, { cpus: 2, idleCpus: FRESH_IDLE_CPUS, starting: 6 }), 5, 'idle CPU: what demand asks for');
  assert.is(freshStartsAllowed(5, { cpus: 2, idleCpus: null, starting: 6 }), 5, 'unknown host: not held back');
  assert.is(freshStartsAllowed(0, { ...busy, starting: 0 }), 0);
});

test('freshQueueLimit: the requests its starts can serve within the wait bound', () => {
  // 4 starts at once, 250 ms each: 4 rounds in a second, 16 requests.
  assert.is(freshQueueLimit({ startMs: 250, starts: 4, starting: 1 }), 4 * Math.floor(FRESH_MAX_WAIT_MS / 250));
  assert.is(freshQueueLimit({ startMs: 250, starts: 4, starting: 1, maxWaitMs: 1000 }), 16);
  assert.is(freshQueueLimit({ startMs: 400, starts: 4, starting: 0, maxWaitMs: 1000 }), 8, 'whole rounds only');
  // Starts slower than the bound: only the requests the starts in flight will serve.
  assert.is(freshQueueLimit({ startMs: 2500, starts: 10, starting: 3, maxWaitMs: 1000 }), 3);
  assert.is(freshQueueLimit({ startMs: 2500, starts: 10, starting: 0, maxWaitMs: 1000 }), 1, 'an idle pool: one request waits for its start');
  assert.is(freshQueueLimit({ startMs: 0, starts: 4, starting: 0 }), 4, 'no start measured yet: one round');
  assert.is(freshQueueLimit({ startMs: 100, starts: 0, starting: 0 }), 1, 'at maxInstances with nothing starting: one waits');
});

test('freshRetryAfterSeconds: the time the queue ahead takes to be served, at least 1 s', () => {
  assert.is(freshRetryAfterSeconds({ queued: 0, startMs: 0, starts: 2 }), 1);
  assert.is(freshRetryAfterSeconds({ queued: 7, startMs: 250, starts: 2 }), 1, '4 rounds of 250 ms');
  assert.is(freshRetryAfterSeconds({ queued: 8, startMs: 250, starts: 2 }), 2, '5 rounds of 250 ms');
  assert.is(freshRetryAfterSeconds({ queued: 1, startMs: 3200, starts: 2 }), 4);
  assert.is(freshRetryAfterSeconds({ queued: 3, startMs: 300, starts: 0 }), 2, 'at maxInstances: one start at a time');
});

test.run();
