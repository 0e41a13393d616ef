/**
 * Cron triggers end to end: a trigger fires on its real timer and its job reaches the function
 * with the cron headers; after a restart, a trigger whose slots passed while the daemon was down
 * fires once, not once per missed slot. The clock is injected (so "an hour later" takes no hour);
 * the timers, the SQLite file and the restart are real.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../../platform/store/db.ts';
import { AsyncService } from '../../platform/async/service.ts';
import { asyncMigrations } from '../../platform/async/schema.ts';
import { CRON_HEADER, CRON_TIME_HEADER } from '../../platform/async/scheduler.ts';
import { functionServer, httpInvoke, tempDir, waitFor } from './support.ts';

test('a trigger fires on its timer and its job carries the cron headers', async () => {
  const tmp = tempDir();
  const store = openDatabase(tmp.file, asyncMigrations);
  const fn = await functionServer();
  // A clock running at real speed, set half a second before midnight: the first slot is near.
  const midnight = Date.UTC(2030, 0, 1);
  const offset = midnight - 500 - Date.now();
  const service = AsyncService.open({ store, invoke: httpInvoke(fn.url), exists: () => true, now: () => Date.now() + offset });
  try {
    const cron = service.addCron('hello', { schedule: '* * * * *', method: 'POST', path: '/tick', body: Buffer.from('{"n":1}') });
    // Midnight, unless this machine stalled for half a second; the assertions below hold either way.
    const slot = Date.parse(cron.nextAt!);
    assert.is(slot % 60_000, 0);
    const seen = await waitFor(() => fn.seen[0], 'the trigger to fire');
    assert.is(seen.path, '/tick');
    assert.is(seen.method, 'POST');
    assert.is(seen.body.toString(), '{"n":1}');
    assert.is(seen.headers[CRON_HEADER], cron.id);
    assert.is(seen.headers[CRON_TIME_HEADER], new Date(slot).toISOString());
    const after = service.getCron(cron.id);
    assert.ok(after.lastFiredAt);
    assert.is(after.nextAt, new Date(slot + 60_000).toISOString());
    const [job] = service.list('hello');
    assert.is(job.kind, 'cron');
    assert.is(job.cronId, cron.id);
    await waitFor(() => service.get(job.id).status === 'succeeded', 'the cron job to succeed');
  } finally {
    await service.close(1000);
    store.close();
    await fn.close();
    tmp.cleanup();
  }
});

test('after a restart, a trigger that missed many slots fires once', async () => {
  const tmp = tempDir();
  const fn = await functionServer();
  let now = Date.UTC(2030, 0, 1, 0, 1);
  let store = openDatabase(tmp.file, asyncMigrations);
  let service = AsyncService.open({ store, invoke: httpInvoke(fn.url), exists: () => true, now: () => now });
  const cron = service.addCron('hello', { schedule: '*/5 * * * *', method: 'GET', path: '/' });
  assert.is(cron.nextAt, '2030-01-01T00:05:00.000Z');
  await service.close();
  store.close();

  // Down for an hour: twelve slots (00:05 … 01:00) pass.
  now = Date.UTC(2030, 0, 1, 1, 1);
  store = openDatabase(tmp.file, asyncMigrations);
  service = AsyncService.open({ store, invoke: httpInvoke(fn.url), exists: () => true, now: () => now });
  try {
    const jobs = service.list('hello');
    assert.is(jobs.length, 1, 'one catch-up run, not twelve');
    const fired = service.getCron(cron.id);
    assert.is(fired.lastFiredAt, new Date(now).toISOString());
    assert.is(fired.nextAt, '2030-01-01T01:05:00.000Z');
    await waitFor(() => service.get(jobs[0].id).status === 'succeeded', 'the catch-up run');
    assert.is(fn.seen.length, 1);
    assert.is(fn.seen[0].headers[CRON_TIME_HEADER], '2030-01-01T00:05:00.000Z');

    // Waking again at the same instant fires nothing; reaching the next slot fires one more.
    service.wake();
    assert.is(service.list('hello').length, 1);
    now = Date.UTC(2030, 0, 1, 1, 5);
    service.wake();
    assert.is(service.list('hello').length, 2);
    await waitFor(() => fn.seen.length === 2, 'the next slot to run');
  } finally {
    await service.close(1000);
    store.close();
    await fn.close();
    tmp.cleanup();
  }
});

test('a paused trigger never fires; resumed, it skips the slots it missed', async () => {
  const tmp = tempDir();
  const fn = await functionServer();
  let now = Date.UTC(2030, 0, 1, 0, 1);
  const store = openDatabase(tmp.file, asyncMigrations);
  const service = AsyncService.open({ store, invoke: httpInvoke(fn.url), exists: () => true, now: () => now });
  try {
    const cron = service.addCron('hello', { schedule: '*/5 * * * *', method: 'GET', path: '/' });
    const paused = service.pauseCron(cron.id);
    assert.is(paused.enabled, false);
    assert.is(paused.nextAt, null, 'a paused trigger has no next run');
    assert.equal(service.pauseCron(cron.id), paused, 'pausing twice changes nothing');

    // An hour of slots passes, and the timer is woken at every one of them: nothing fires.
    for (let m = 5; m <= 60; m += 5) {
      now = Date.UTC(2030, 0, 1, 0, m);
      service.wake();
    }
    assert.is(service.list('hello').length, 0);
    assert.is(service.getCron(cron.id).lastFiredAt, null);

    // Resumed at 01:02: the next run is 01:05, not a catch-up of the twelve missed slots.
    now = Date.UTC(2030, 0, 1, 1, 2);
    const resumed = service.resumeCron(cron.id);
    assert.is(resumed.enabled, true);
    assert.is(resumed.nextAt, '2030-01-01T01:05:00.000Z');
    assert.equal(service.resumeCron(cron.id), resumed, 'resuming an active trigger changes nothing');
    service.wake();
    assert.is(service.list('hello').length, 0);
    now = Date.UTC(2030, 0, 1, 1, 5);
    service.wake();
    const jobs = service.list('hello');
    assert.is(jobs.length, 1);
    assert.is(jobs[0].cronId, cron.id);
    await waitFor(() => fn.seen.length === 1, 'the resumed trigger to run');
    assert.is(fn.seen[0].headers[CRON_TIME_HEADER], '2030-01-01T01:05:00.000Z');
  } finally {
    await service.close(1000);
    store.close();
    await fn.close();
    tmp.cleanup();
  }
});

test('removing a function drops its triggers and the jobs that have not started', async () => {
  const tmp = tempDir();
  const store = openDatabase(tmp.file, asyncMigrations);
  const service = AsyncService.open({ store, invoke: () => new Promise(() => {}), exists: () => true, concurrency: 1, now: () => Date.UTC(2030, 0, 1) });
  try {
    service.addCron('gone', { schedule: '@hourly', method: 'GET', path: '/' });
    service.addCron('kept', { schedule: '@hourly', method: 'GET', path: '/' });
    for (let i = 0; i < 3; i++) service.enqueue('gone', { method: 'GET', path: '/', headers: {}, body: Buffer.alloc(0) });
    await waitFor(() => service.stats().byStatus.running === 1, 'one job to start');
    assert.equal(service.removeFunction('gone'), { crons: 1, jobs: 2 });
    assert.equal(service.listCrons('gone'), []);
    assert.is(service.listCrons('kept').length, 1);
    assert.equal(service.stats().byStatus.running, 1, 'the running attempt is left to finish');
  } finally {
    await service.close(20);
    store.close();
    tmp.cleanup();
  }
});

test.run();
