/**
 * Headroom spares need an idle CPU (platform/functions/pool.ts, host-cpu.ts): the pure decision
 * of which starts go ahead, and the idle CPU read from /proc/stat text. No timing is asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { allowedStarts, freeSlots, HEADROOM_IDLE_CPUS } from '../../platform/functions/pool.ts';
import { idleBetween, parseIdle, procHostCpu } from '../../platform/functions/host-cpu.ts';

const headroom = { fresh: false, queued: 0, live: 1, minWarm: 1 };

test('allowedStarts: a headroom spare waits for an idle CPU', () => {
  assert.is(allowedStarts(1, { ...headroom, idleCpus: HEADROOM_IDLE_CPUS - 0.2 }), 0);
  assert.is(allowedStarts(2, { ...headroom, idleCpus: HEADROOM_IDLE_CPUS }), 2);
});

test('allowedStarts: waiting requests, minWarm, fresh isolation and an unknown host always start', () => {
  const busy = { ...headroom, idleCpus: 0 };
  assert.is(allowedStarts(1, { ...busy, queued: 3 }), 1, 'a request waits for a slot');
  assert.is(allowedStarts(1, { ...busy, live: 0 }), 1, 'below minWarm');
  assert.is(allowedStarts(1, { ...busy, fresh: true }), 1, 'fresh isolation');
  assert.is(allowedStarts(1, { ...busy, idleCpus: null }), 1, 'idle CPU unknown');
  assert.is(allowedStarts(0, busy), 0);
});

test('allowedStarts: a queued request starts an instance once it has waited about a start, or at once when nothing is live', () => {
  const queued = { ...headroom, idleCpus: 2, queued: 5 };
  assert.is(allowedStarts(1, { ...queued, waitedLong: 0 }), 0, 'behind busy instances: served soon, no start yet');
  assert.is(allowedStarts(1, { ...queued, waitedLong: 1 }), 1, 'one waited as long as a start takes');
  assert.is(allowedStarts(1, { ...queued, waitedLong: 0, live: 0, minWarm: 0 }), 1, 'scale from zero: nothing to wait for');
  assert.is(allowedStarts(1, { ...queued, waitedLong: 0, holding: true }), 0);
});

test('allowedStarts: a pool holding headroom (traffic moving to it) starts only for waiting requests and minWarm', () => {
  const holding = { ...headroom, idleCpus: 2, holding: true };
  assert.is(allowedStarts(1, holding), 0);
  assert.is(allowedStarts(1, { ...holding, idleCpus: null }), 0);
  assert.is(allowedStarts(1, { ...holding, queued: 1 }), 1);
  assert.is(allowedStarts(1, { ...holding, live: 0 }), 1);
});

test('freeSlots: reuse isolation counts the mean in flight over the last second, not a momentary peak', () => {
  const reuse = { fresh: false, concurrency: 32 };
  // A stall: 30 of one instance's 32 slots taken right now, 2.4 in flight on average.
  const stalled = [{ inflight: 30, served: 5000 }];
  assert.is(freeSlots(stalled, { ...reuse, sustainedInflight: 2.4 }), 29);
  // Sustained demand is what fills the slots.
  assert.is(freeSlots(stalled, { ...reuse, sustainedInflight: 30 }), 2);
  assert.is(
    freeSlots(
      [
        { inflight: 0, served: 1 },
        { inflight: 3, served: 9 },
      ],
      { ...reuse, sustainedInflight: 40.2 },
    ),
    23,
  );
  assert.is(freeSlots(stalled, { ...reuse, sustainedInflight: 90 }), 0, 'never negative');
  assert.is(freeSlots([], { ...reuse, sustainedInflight: 0 }), 0);
});

test('freeSlots: fresh isolation counts the instances that have not served', () => {
  const live = [
    { inflight: 0, served: 0 },
    { inflight: 0, served: 0 },
    { inflight: 1, served: 1 },
  ];
  assert.is(freeSlots(live, { fresh: true, concurrency: 1, sustainedInflight: 0 }), 2);
});

test('parseIdle: idle and iowait are idle; idleBetween scales by the CPU count', () => {
  const a = parseIdle('cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n');
  assert.equal(a, { idle: 800, total: 1000 });
  const b = parseIdle('cpu  400 0 200 1000 100 0 0 0 0 0\n');
  // 400 more busy ticks and 300 more idle of 700: 3/7 of 2 CPUs idle.
  assert.ok(Math.abs(idleBetween(a, b, 2)! - 6 / 7) < 1e-9);
  assert.is(idleBetween(a, a, 2), null);
});

test('procHostCpu: unknown until two readings, null when /proc/stat cannot be read', () => {
  const host = procHostCpu(() => 'cpu  1 0 1 8 0 0 0 0 0 0\n');
  assert.is(host.idleCpus(), null, 'one reading only');
  const none = procHostCpu(() => {
    throw new Error('no /proc here');
  });
  assert.is(none.idleCpus(), null);
  assert.is(none.idleCpus(), null);
});

test.run();
