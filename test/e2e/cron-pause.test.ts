/**
 * Pausing and resuming cron triggers through the real CLI and daemon. Two triggers share the
 * every-minute schedule, so they are due in the same scheduler tick; one is paused. Once the active
 * one has fired (up to a minute of real time: cron has no finer unit), the paused one has provably
 * been skipped at that slot. Unknown ids answer `cron_not_found`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { sharedDaemon, type TestDaemon } from '../support/daemon.ts';

type Cron = { id: string; enabled: boolean; lastFiredAt: string | null; nextAt: string | null };

let d: TestDaemon;
sharedDaemon(test, ['echo'], (daemon) => (d = daemon));

async function cli(...args: string[]) {
  const r = await d.cli(args);
  assert.is(r.code, 0, `ignition ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function crons(): Promise<Cron[]> {
  return JSON.parse(await cli('cron', 'ls', 'echo', '--json'));
}

test('a paused trigger does not fire while an active one at the same slot does; resume re-arms it', async () => {
  // Two adds can straddle a minute boundary (each is a CLI process, slow on a busy host): then
  // they are due at different slots, and the pair is made again.
  let active: Cron | undefined;
  let paused: Cron | undefined;
  for (let attempt = 0; attempt < 3 && (!active || active.nextAt !== paused!.nextAt); attempt++) {
    if (active) for (const c of [active, paused!]) await cli('cron', 'rm', c.id);
    active = JSON.parse(await cli('cron', 'add', 'echo', '* * * * *', '--path', '/active', '--json')) as Cron;
    paused = JSON.parse(await cli('cron', 'add', 'echo', '* * * * *', '--path', '/paused', '--json')) as Cron;
  }
  assert.ok(active && paused);
  assert.is(active.nextAt, paused.nextAt, 'both are due at the same slot');
  assert.is((await cli('cron', 'pause', paused.id)).trim(), `Paused ${paused.id}`);

  const table = (await cli('cron', 'ls', 'echo')).split('\n');
  assert.match(
    table.find((l) => l.startsWith(active.id))!,
    /\bactive\b/,
  );
  assert.match(
    table.find((l) => l.startsWith(paused.id))!,
    /\bpaused\b/,
  );

  // Wait for the active trigger's first run (the next minute boundary).
  let now: Cron[] = [];
  for (let i = 0; i < 180; i++) {
    now = await crons();
    if (now.find((c) => c.id === active.id)?.lastFiredAt) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const a = now.find((c) => c.id === active.id)!;
  const p = now.find((c) => c.id === paused.id)!;
  assert.ok(a.lastFiredAt, 'the active trigger fired');
  assert.is(p.lastFiredAt, null, 'the paused trigger did not');
  assert.is(p.enabled, false);
  assert.is(p.nextAt, null);
  const res = await request(`${d.url}/v1/functions/echo/invocations?limit=100`, { headers: d.auth() });
  const { invocations } = (await res.body.json()) as { invocations: Array<{ cronId: string | null }> };
  assert.ok(invocations.some((i) => i.cronId === active.id));
  assert.not.ok(
    invocations.some((i) => i.cronId === paused.id),
    'no job was queued for the paused trigger',
  );

  const resumed: Cron = JSON.parse(await cli('cron', 'resume', paused.id, '--json'));
  assert.is(resumed.enabled, true);
  assert.ok(resumed.nextAt && Date.parse(resumed.nextAt) > Date.parse(a.lastFiredAt!), 'resumed from a slot after the resume, not a catch-up');
  assert.match(
    (await cli('cron', 'ls', 'echo')).split('\n').find((l) => l.startsWith(paused.id))!,
    /\bactive\b/,
  );
});

test('pausing or resuming an unknown trigger is cron_not_found', async () => {
  for (const verb of ['pause', 'resume']) {
    const r = await d.cli(['cron', verb, 'cron_missing']);
    assert.is(r.code, 1);
    assert.match(r.stderr, /cron_missing.*\[cron_not_found\]/);
  }
  const res = await request(`${d.url}/v1/crons/cron_missing/pause`, { method: 'POST', headers: d.auth() });
  assert.is(res.statusCode, 404);
  assert.match(String(res.headers['content-type']), /application\/problem\+json/);
  assert.is(((await res.body.json()) as { code: string }).code, 'cron_not_found');
});

test.run();
