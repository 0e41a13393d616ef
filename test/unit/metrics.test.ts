/**
 * The metrics registry's series keys: the invoke path counts every request under labels, and
 * rendered keys are cached by the labels as given. The cache must not change what is counted or
 * rendered: the same labels in any order are one series, values are escaped as the exposition
 * format wants, and values that hold the cache's own separator do not merge series.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MetricsRegistry } from '../../platform/metrics.ts';

test('the same labels in another order count in one series', () => {
  const registry = new MetricsRegistry();
  const c = registry.counter('t_total', 'test');
  c.inc({ function: 'f', version: 'v1' });
  c.inc({ version: 'v1', function: 'f' });
  c.inc({ function: 'f', version: 'v1' }, 3);
  assert.is(c.get({ version: 'v1', function: 'f' }), 5);
  assert.equal(c.render(), ['t_total{function="f",version="v1"} 5']);
});

test('values are escaped for the exposition format, cached or not', () => {
  const registry = new MetricsRegistry();
  const c = registry.counter('t_total', 'test');
  for (let i = 0; i < 2; i++) c.inc({ path: 'a"b\\c\nd' });
  assert.equal(c.render(), ['t_total{path="a\\"b\\\\c\\nd"} 2']);
});

test("a value holding the cache's separator does not merge two label sets", () => {
  const registry = new MetricsRegistry();
  const c = registry.counter('t_total', 'test');
  // Joined naively with \u0001 between names and values, these two would read the same.
  c.inc({ a: 'x\u0001b\u0001y' });
  c.inc({ a: 'x', b: 'y' });
  c.inc({ a: 'x\u0001b\u0001y' });
  assert.is(c.get({ a: 'x', b: 'y' }), 1);
  assert.is(c.get({ a: 'x\u0001b\u0001y' }), 2);
});

test('histograms and gauges key their series the same way', () => {
  const registry = new MetricsRegistry();
  const h = registry.histogram('t_seconds', 'test', [0.1, 1]);
  h.observe({ function: 'f', version: 'v' }, 0.05);
  h.observe({ version: 'v', function: 'f' }, 0.5);
  const g = registry.gauge('t_gauge', 'test');
  g.set({ b: '2', a: '1' }, 7);
  g.set({ a: '1', b: '2' }, 8);
  const text = registry.render();
  assert.match(text, 't_seconds_bucket{function="f",version="v",le="0.1"} 1\n');
  assert.match(text, 't_seconds_bucket{function="f",version="v",le="1"} 2\n');
  assert.match(text, 't_seconds_count{function="f",version="v"} 2\n');
  assert.match(text, 't_gauge{a="1",b="2"} 8\n');
  assert.not.match(text, 't_gauge{a="1",b="2"} 7');
});

test.run();
