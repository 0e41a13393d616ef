/**
 * What the fresh benchmark reads besides latency: the daemon's start histograms (from /metrics
 * text, before and after a run) and a cgroup v2 CPU counter.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { v2UsageMs } from '../../scripts/bench/lib/cpu-account.ts';
import { histogramDelta, histogramQuantile, readHistogram } from '../../scripts/bench/lib/servers.ts';

const metrics = (spareCount: number, spawnCount: number) =>
  [
    '# TYPE ignition_restore_step_seconds histogram',
    `ignition_restore_step_seconds_bucket{driver="process",flow="restore",step="spare",le="0.05"} ${spareCount}`,
    `ignition_restore_step_seconds_bucket{driver="process",flow="restore",step="spare",le="+Inf"} ${spareCount}`,
    `ignition_restore_step_seconds_sum{driver="process",flow="restore",step="spare"} ${spareCount * 0.03}`,
    `ignition_restore_step_seconds_count{driver="process",flow="restore",step="spare"} ${spareCount}`,
    `ignition_restore_step_seconds_bucket{driver="process",flow="restore",step="spawn",le="0.05"} 0`,
    `ignition_restore_step_seconds_bucket{driver="process",flow="restore",step="spawn",le="0.25"} ${spawnCount}`,
    `ignition_restore_step_seconds_bucket{driver="process",flow="restore",step="spawn",le="+Inf"} ${spawnCount}`,
    `ignition_restore_step_seconds_sum{driver="process",flow="restore",step="spawn"} ${spawnCount * 0.2}`,
    `ignition_restore_step_seconds_count{driver="process",flow="restore",step="spawn"} ${spawnCount}`,
    'ignition_restore_duration_seconds_count{driver="process"} 9',
  ].join('\n');

test('readHistogram keeps the series whose labels match, summed', () => {
  const all = readHistogram(metrics(3, 4), 'ignition_restore_step_seconds', { flow: 'restore' });
  assert.is(all.count, 7);
  const spawn = readHistogram(metrics(3, 4), 'ignition_restore_step_seconds', { step: 'spawn' });
  assert.is(spawn.count, 4);
  assert.ok(Math.abs(spawn.sum - 0.8) < 1e-9);
  assert.equal(spawn.buckets, [
    { le: 0.05, count: 0 },
    { le: 0.25, count: 4 },
    { le: Number.POSITIVE_INFINITY, count: 4 },
  ]);
  assert.is(readHistogram(metrics(3, 4), 'ignition_restore_duration_seconds').count, 9);
  assert.is(readHistogram(metrics(3, 4), 'ignition_nothing').count, 0);
});

test('histogramDelta and histogramQuantile give the observations of a run', () => {
  const d = histogramDelta(readHistogram(metrics(3, 4), 'ignition_restore_step_seconds'), readHistogram(metrics(5, 10), 'ignition_restore_step_seconds'));
  assert.is(d.count, 8);
  // 2 spare steps ≤ 50 ms, 6 spawns ≤ 250 ms.
  assert.is(histogramQuantile(d, 0.25), 0.05);
  assert.is(histogramQuantile(d, 0.5), 0.25);
  assert.ok(Number.isNaN(histogramQuantile(histogramDelta(d, d), 0.5)));
});

test('v2UsageMs reads usage_usec', () => {
  assert.is(v2UsageMs('usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n'), 123.456);
  assert.ok(Number.isNaN(v2UsageMs('nr_periods 0\n')));
});

test.run();
