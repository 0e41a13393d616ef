/**
 * The console's ring of recent invocations (platform/functions/recent.ts): newest first, bounded
 * (the oldest give way), filtered by function, failure and id, and a removed function's entries
 * forgotten; failures keep the status, code and phase the caller got, and a response cut at its
 * timeout becomes one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RecentInvocations, isFailure } from '../../platform/functions/recent.ts';
import { FunctionThrew, FunctionTimeout, QueueFull } from '../../platform/functions/errors.ts';

test('newest first, and the oldest give way past the capacity', () => {
  const r = new RecentInvocations(3);
  for (let i = 1; i <= 5; i++) r.answered('f', `req_${i}`, 'ver_1', 200, i, i === 1);
  assert.equal(
    r.list().map((x) => x.id),
    ['req_5', 'req_4', 'req_3'],
  );
  assert.equal(
    r.list({ limit: 2 }).map((x) => x.id),
    ['req_5', 'req_4'],
  );
});

test('failures: the platform error with status, code and phase, and 5xx answers', () => {
  const r = new RecentInvocations(10);
  r.answered('a', 'req_ok', 'ver_1', 200, 3, false);
  r.answered('a', 'req_503', 'ver_1', 503, 3, false);
  r.failed('a', 'req_threw', 'ver_1', FunctionThrew('function a: boom'), 4);
  r.failed('b', 'req_queue', null, QueueFull('queue of b is full'), 1);
  r.failed('b', 'req_odd', null, new Error('not typed'), 1);
  const threw = r.list({ id: 'req_threw' })[0];
  assert.equal([threw.status, threw.code, threw.phase, threw.version], [500, 'function_threw', 'handler', 'ver_1']);
  const odd = r.list({ id: 'req_odd' })[0];
  assert.equal([odd.status, odd.code, odd.phase], [500, 'internal', null]);
  assert.equal(
    r.list({ failed: true }).map((x) => x.id),
    ['req_odd', 'req_queue', 'req_threw', 'req_503'],
  );
  assert.equal(
    r.list({ fn: 'a', failed: true }).map((x) => x.id),
    ['req_threw', 'req_503'],
  );
  assert.is(isFailure(r.list({ id: 'req_ok' })[0]), false);
});

test('a response cut at its timeout keeps its status and becomes a failure with the timeout’s code', () => {
  const r = new RecentInvocations(4);
  r.answered('a', 'req_cut', 'ver_1', 200, 3, false);
  r.answered('a', 'req_next', 'ver_1', 200, 3, false);
  r.cut('req_cut', FunctionTimeout('function a did not finish within its timeout of 100 ms'));
  r.cut('req_gone', FunctionTimeout('an id the ring no longer holds is ignored'));
  const cut = r.list({ id: 'req_cut' })[0];
  assert.equal([cut.status, cut.code, cut.phase], [200, 'function_timeout', 'timeout']);
  assert.equal(
    r.list({ failed: true }).map((x) => x.id),
    ['req_cut'],
  );
});

test("a removed function's invocations are forgotten, the others kept in order", () => {
  const r = new RecentInvocations(4);
  r.answered('a', 'req_1', 'v', 200, 1, false);
  r.answered('b', 'req_2', 'v', 200, 1, false);
  r.answered('a', 'req_3', 'v', 200, 1, false);
  r.forget('a');
  r.answered('c', 'req_4', 'v', 200, 1, false);
  assert.equal(
    r.list().map((x) => x.id),
    ['req_4', 'req_2'],
  );
});

test.run();
