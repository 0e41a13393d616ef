/**
 * The console's figures from the daemon's own series (platform/console/stats.ts): percentiles
 * estimated from histogram buckets as Prometheus does, rates and error shares between two
 * readings, cold starts, and the sampled history a chart draws, on a real PlatformMetrics.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LATENCY_BUCKETS, platformMetrics } from '../../platform/metrics.ts';
import { between, ConsoleStats, quantile, read, SAMPLE_MS } from '../../platform/console/stats.ts';

test('a quantile interpolates inside the bucket its rank falls in', () => {
  // 10 observations: 4 at or below 0.1 s, 6 more at or below 1 s.
  const bounds = [0.1, 1];
  assert.is(quantile(bounds, [4, 10], 10, 0.2), 50, 'rank 2 of 4 in [0, 0.1]: halfway, 50 ms');
  assert.ok(Math.abs(quantile(bounds, [4, 10], 10, 0.7)! - 550) < 1e-9, 'rank 7: 3 of 6 into [0.1, 1]');
  assert.is(quantile(bounds, [0, 0], 0, 0.5), null, 'no observations: no figure');
  // Beyond the last bound (the +Inf bucket): "at least" the last bound.
  assert.is(quantile(bounds, [1, 1], 3, 0.99), 1000);
});

test('readings sum a function over versions; errors are platform failures and 5xx answers', () => {
  const m = platformMetrics();
  m.invocations.inc({ function: 'a', version: 'v1', outcome: '2xx', start: 'cold' });
  m.invocations.inc({ function: 'a', version: 'v2', outcome: '2xx', start: 'warm' }, 6);
  m.invocations.inc({ function: 'a', version: 'v2', outcome: '5xx', start: 'warm' }, 2);
  m.invocations.inc({ function: 'a', outcome: 'error', start: 'unknown' });
  m.invocations.inc({ function: 'a', version: 'v2', outcome: '4xx', start: 'warm' });
  m.invocations.inc({ function: 'b', version: 'v9', outcome: '2xx', start: 'warm' });
  m.invocationDuration.observe({ function: 'a', version: 'v1' }, 0.002);
  m.invocationDuration.observe({ function: 'a', version: 'v2' }, 0.2);
  const a = read(m).get('a')!;
  assert.equal([a.requests, a.errors, a.cold, a.observed], [11, 3, 1, 2]);
  assert.is(a.buckets.length, LATENCY_BUCKETS.length);
  assert.is(a.buckets[LATENCY_BUCKETS.indexOf(0.0025)], 1);
  assert.is(a.buckets[LATENCY_BUCKETS.indexOf(0.25)], 2);
  assert.is(read(m).get('b')!.requests, 1);
});

test('a window is the difference of two readings', () => {
  const m = platformMetrics();
  m.invocations.inc({ function: 'f', version: 'v', outcome: '2xx', start: 'warm' }, 5);
  m.invocationDuration.observe({ function: 'f', version: 'v' }, 5);
  const before = read(m).get('f');
  for (let i = 0; i < 100; i++) {
    m.invocations.inc({ function: 'f', version: 'v', outcome: i < 10 ? '5xx' : '2xx', start: i < 3 ? 'cold' : 'warm' });
    m.invocationDuration.observe({ function: 'f', version: 'v' }, i < 99 ? 0.003 : 2);
  }
  const w = between(before, read(m).get('f'), 50);
  assert.equal([w.requests, w.errors, w.cold, w.rps, w.errorRate], [100, 10, 3, 2, 0.1]);
  // The 5 s observation before the window does not count; 99 of 100 fall in (2.5 ms, 5 ms].
  assert.ok(w.p50! > 2.5 && w.p50! <= 5, `p50 ${w.p50}`);
  assert.ok(w.p99! > 2.5 && w.p99! <= 5, `p99 ${w.p99}`);
  const quiet = between(read(m).get('f'), read(m).get('f'), 10);
  assert.equal([quiet.requests, quiet.errorRate, quiet.p50, quiet.p99], [0, null, null, null]);
});

test('the history gives one point per sampled interval, and the window spans it', async () => {
  const m = platformMetrics();
  let now = 1_000_000;
  const stats = new ConsoleStats(m, () => now);
  try {
    stats.live(); // the first look starts the sampler with a reading
    m.invocations.inc({ function: 'f', version: 'v', outcome: '2xx', start: 'warm' }, 4);
    m.invocationDuration.observe({ function: 'f', version: 'v' }, 0.01);
    now += SAMPLE_MS;
    const live = stats.live();
    const points = stats.series('f', live);
    assert.is(points.length, 1);
    assert.is(points[0].requests, 4);
    assert.ok(points[0].p50! > 5 && points[0].p50! <= 10);
    const w = stats.window('f', live);
    assert.equal([w.seconds, w.requests, w.rps], [10, 4, 0.4]);
    assert.equal(stats.series('nobody', live), [{ t: now, requests: 0, errors: 0, p50: null, p99: null }]);
  } finally {
    stats.stop();
  }
});

test.run();
