/**
 * A reuse pool's demand is the mean number of requests in flight over each second
 * (platform/functions/demand.ts): a short stall that piles requests up barely moves it, sustained
 * concurrency does. Pure: the clock is passed in.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MeanInflight } from '../../platform/functions/demand.ts';

test('MeanInflight: the time-weighted mean over the period', () => {
  const m = new MeanInflight(0);
  m.set(4, 0);
  m.set(2, 500); // 4 in flight for 500 ms, then 2 for 500 ms
  assert.is(m.take(1000), 3);
});

test('MeanInflight: a 10 ms pile-up of 30 requests in a second of 3 in flight moves the mean by less than 1', () => {
  const m = new MeanInflight(0);
  m.set(3, 0);
  m.set(33, 400);
  m.set(3, 410);
  const mean = m.take(1000);
  assert.ok(mean > 3 && mean < 4, `mean ${mean}`);
});

test('MeanInflight: each period starts where the previous ended; the number in flight carries over', () => {
  const m = new MeanInflight(0);
  m.set(8, 0);
  assert.is(m.take(1000), 8);
  m.set(0, 1250);
  assert.is(m.take(2000), 2, '8 for a quarter of the period');
  assert.is(m.take(3000), 0);
});

test('MeanInflight: reset forgets the period so far; an empty period reports the current number', () => {
  const m = new MeanInflight(0);
  m.set(20, 0);
  m.reset(900);
  m.set(2, 900);
  assert.is(m.take(1000), 2);
  m.set(5, 1000);
  assert.is(m.take(1000), 5);
});

test.run();
