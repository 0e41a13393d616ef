/**
 * The invoker's Deadline: the abort signal of one invocation, in place of an AbortController. It
 * must behave as the signal its two consumers expect: listeners run once when it fires, removed or
 * cleared ones never, and undici aborts a real request with its reason.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { Deadline } from '../../platform/deadline.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('fires once after its time with the reason; removed listeners do not run', async () => {
  const reason = new Error('too late');
  const d = new Deadline(20, () => reason);
  const calls: string[] = [];
  const removed = () => calls.push('removed');
  d.addEventListener('abort', () => calls.push('a'));
  d.addEventListener('abort', removed);
  d.addEventListener('abort', () => calls.push('b'));
  d.removeEventListener('abort', removed);
  assert.is(d.aborted, false);
  await sleep(60);
  assert.is(d.aborted, true);
  assert.is(d.reason, reason);
  assert.equal(calls, ['a', 'b']);
  d.addEventListener('abort', () => calls.push('late'));
  await sleep(10);
  assert.equal(calls, ['a', 'b'], 'a listener added after the abort is not called later');
});

test('a cleared deadline never fires', async () => {
  let made = 0;
  const d = new Deadline(10, () => (made++, new Error('x')));
  let called = false;
  d.addEventListener('abort', () => (called = true));
  d.clear();
  await sleep(40);
  assert.is(d.aborted, false);
  assert.is(called, false);
  assert.is(made, 0, 'the reason is not even built');
});

test('undici aborts a request with the reason when the deadline passes', async () => {
  // A server that never answers.
  const server = createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const reason = new Error('function f did not finish within its timeout of 50 ms');
    const d = new Deadline(50, () => reason);
    const err = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { signal: d as unknown as AbortSignal }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.is(err, reason);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test.run();
