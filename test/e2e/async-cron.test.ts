/**
 * Async invocations and cron through the real daemon and CLI: 202 and an id, status and result,
 * retries into the dead-letter list, cron validation and listing, and no accepted work lost when
 * the daemon is killed with jobs queued.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ign-async-'));
let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ dataDir });
  await deploy(d, path.join(FIXTURES, 'echo'));
  await deploy(d, path.join(FIXTURES, 'throws-in-handler'));
  await deploy(d, path.join(FIXTURES, 'slow'));
});
test.after(async () => {
  await d?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function until(id: string, statuses: string[], d_: TestDaemon = d) {
  let inv: Record<string, any> = {};
  for (let i = 0; i < 300; i++) {
    inv = JSON.parse((await d_.cli(['invocation', id, '--json'])).stdout);
    if (statuses.includes(inv.status)) return inv;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`invocation ${id} stayed ${inv.status}`);
}

/** A console session's cookie, through the one-time link `ignition console --url` prints. */
async function consoleCookie(): Promise<string> {
  const r = await d.cli(['console', '--url']);
  assert.is(r.code, 0, r.stderr);
  const res = await fetch(r.stdout.trim(), { redirect: 'manual' });
  await res.body?.cancel();
  return (res.headers.get('set-cookie') ?? '').split(';')[0];
}

/** The sum of a series' samples in /metrics whose labels include every one of `labels`. */
async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

test('an async invocation is accepted, then runs, and its result can be fetched', async () => {
  const before = await metric('ignition_invocations_total', { function: 'echo', outcome: '2xx' });
  const r = await d.cli(['invoke-async', 'echo', '--path', '/jobs?x=1', '--data', 'payload', '--json']);
  assert.is(r.code, 0, r.stderr);
  const accepted = JSON.parse(r.stdout);
  assert.is(accepted.status, 'queued');
  const done = await until(accepted.id, ['succeeded']);
  assert.is(done.result.status, 200);
  const echo = JSON.parse(done.result.body);
  assert.is(echo.path, '/jobs');
  assert.is(echo.body, 'payload');
  // Counted as a /fn request is: the same series of /metrics, and the console's recent list.
  assert.is(await metric('ignition_invocations_total', { function: 'echo', outcome: '2xx' }), before + 1);
  const page = await fetch(`${d.url}/console/invocations?function=echo`, { headers: { cookie: await consoleCookie() } });
  assert.is(page.status, 200);
  assert.ok((await page.text()).includes(accepted.id), 'the recent invocations list the job by its id');
});

test('a failing invocation is retried, then dead-lettered', async () => {
  const r = JSON.parse((await d.cli(['invoke-async', 'throws-in-handler', '--max-attempts', '2', '--json'])).stdout);
  const dead = await until(r.id, ['dead']);
  assert.is(dead.attempts, 2);
  assert.is(dead.lastError.code, 'function_threw');
  assert.is(await metric('ignition_invocation_errors_total', { function: 'throws-in-handler', code: 'function_threw' }), 2, 'each attempt counts');
  const dl = JSON.parse((await d.cli(['dead-letters', 'throws-in-handler', '--json'])).stdout);
  assert.ok(JSON.stringify(dl).includes(r.id));
});

test('cron: bad expressions are refused by field; triggers are listed and removed', async () => {
  const bad = await d.cli(['cron', 'add', 'echo', '61 * * * *']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /minute.*\[cron_invalid\]/i);
  const add = await d.cli(['cron', 'add', 'echo', '*/5 * * * *', '--path', '/tick', '--json']);
  assert.is(add.code, 0, add.stderr);
  const trigger = JSON.parse(add.stdout);
  const ls = JSON.parse((await d.cli(['cron', 'ls', 'echo', '--json'])).stdout);
  assert.ok(JSON.stringify(ls).includes(trigger.id));
  assert.is((await d.cli(['cron', 'rm', trigger.id])).code, 0);
  const missing = await d.cli(['cron', 'add', 'nope', '* * * * *']);
  assert.match(missing.stderr, /\[function_not_found\]/);
});

test('a daemon killed with work queued loses none of it', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push(JSON.parse((await d.cli(['invoke-async', 'slow', '--path', '/?ms=1500', '--json'])).stdout).id);
  await d.stop('SIGKILL');
  d = await startTestDaemon({ dataDir });
  for (const id of ids) {
    const inv = await until(id, ['succeeded']);
    assert.is(inv.result.body, 'slept 1500');
  }
});

test.run();
