/**
 * A redeploy keeps the function's configuration unless it changes it, as a code update on Lambda
 * does: `--env K=V` adds or replaces one variable, `--unset-env K` removes one, every other keeps
 * its value, and so do settings the deploy does not state (null in ignition.json returns one to
 * the daemon's default). The deploy says what changed. `ignition env ls|set|unset` lists and
 * changes the environment of the deployed code, each change a new version.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
const echo = path.join(FIXTURES, 'echo');
const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-config-'));

test.before(async () => {
  d = await startTestDaemon();
  writeFileSync(path.join(dir, 'index.ts'), 'export default { fetch: (_req: Request, env: Record<string, string>) => Response.json({ env }) };\n');
});
test.after(async () => {
  await d?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function envOf(fn: string): Promise<Record<string, string>> {
  const r = await request(`${d.url}/fn/${fn}/`);
  const body = (await r.body.json()) as { env: Record<string, string> };
  return body.env;
}

async function latestSettings(fn: string): Promise<Record<string, unknown>> {
  const r = await request(`${d.url}/v1/functions/${fn}`, { headers: d.auth() });
  assert.is(r.statusCode, 200);
  return ((await r.body.json()) as { settings: Record<string, unknown> }).settings;
}

async function ok(args: string[]) {
  const r = await d.cli(args);
  assert.is(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r;
}

test('a redeploy without --env keeps the environment; --env and --unset-env change single names', async () => {
  await ok(['deploy', echo, '--name', 'keep', '--env', 'A=1', '--env', 'C=3']);
  await ok(['deploy', echo, '--name', 'keep']);
  assert.equal(await envOf('keep'), { A: '1', C: '3' }, 'the redeploy kept A and C');

  const r = await ok(['deploy', echo, '--name', 'keep', '--env', 'B=2', '--env', 'A=9', '--unset-env', 'C']);
  assert.match(r.stderr, /\nenv: \+B, ~A, -C\n/);
  assert.not.match(r.stderr + r.stdout, /=9|=2/, 'values are not printed');
  assert.equal(await envOf('keep'), { A: '9', B: '2' });

  const empty = await ok(['deploy', echo, '--name', 'keep', '--env', 'E=']);
  assert.match(empty.stderr, /\nenv: \+E\n/);
  assert.equal(await envOf('keep'), { A: '9', B: '2', E: '' }, 'an empty value is a value');

  const both = await d.cli(['deploy', echo, '--name', 'keep', '--env', 'A=1', '--unset-env', 'A']);
  assert.is(both.code, 1);
  assert.match(both.stderr, /A is both set \(--env\) and unset \(--unset-env\)/);
});

test('settings a redeploy does not state keep their value; null in ignition.json returns one to the default', async () => {
  await ok(['deploy', dir, '--name', 'sets', '--memory', '256', '--timeout', '5000']);
  const again = await ok(['deploy', dir, '--name', 'sets', '--env', 'X=1']);
  assert.match(again.stderr, /\nenv: \+X\n/);
  assert.not.match(again.stderr, /settings:/, 'no setting changed');
  let s = await latestSettings('sets');
  assert.is(s.memoryMiB, 256);
  assert.is(s.timeoutMs, 5000);

  const changed = await ok(['deploy', dir, '--name', 'sets', '--memory', '192']);
  assert.match(changed.stderr, /\nsettings: memoryMiB 256 → 192\n/);

  writeFileSync(path.join(dir, 'ignition.json'), JSON.stringify({ timeoutMs: null }));
  const reset = await ok(['deploy', dir, '--name', 'sets']);
  assert.match(reset.stderr, /\nsettings: timeoutMs 5000 → 30000\n/);
  s = await latestSettings('sets');
  assert.is(s.timeoutMs, 30000);
  assert.is(s.memoryMiB, 192);
  assert.equal(await envOf('sets'), { X: '1' });
  rmSync(path.join(dir, 'ignition.json'));
});

test('env ls, set and unset: each change is a new version of the deployed code', async () => {
  await ok(['deploy', echo, '--name', 'envcmd', '--env', 'A=1']);
  const ls = await ok(['env', 'ls', 'envcmd']);
  assert.is(ls.stdout, 'A\n');

  const set = await ok(['env', 'set', 'envcmd', 'B=2', 'A=3']);
  assert.match(set.stdout, /^Deployed envcmd v2\nenv: \+B, ~A\n$/);
  assert.equal(await envOf('envcmd'), { A: '3', B: '2' });
  assert.is((await ok(['env', 'ls', 'envcmd'])).stdout, 'A\nB\n');

  const unset = await ok(['env', 'unset', 'envcmd', 'A']);
  assert.match(unset.stdout, /^Deployed envcmd v3\nenv: -A\n$/);
  assert.equal(await envOf('envcmd'), { B: '2' });

  const none = await ok(['env', 'unset', 'envcmd', 'NOPE']);
  assert.match(none.stdout, /^Unchanged: envcmd v3\n$/);

  // The code is the deployed one: echo's settings from its ignition.json came along.
  assert.is((await latestSettings('envcmd')).timeoutMs, 2000);
  // Rolling back restores the previous environment with the previous version.
  await ok(['rollback', 'envcmd']);
  assert.equal(await envOf('envcmd'), { A: '3', B: '2' });

  const missing = await d.cli(['env', 'set', 'nothing-here', 'A=1']);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /(^|\n)error: no function named "nothing-here"[^\n]*\[function_not_found\]\n$/);
  const badPair = await d.cli(['env', 'set', 'envcmd', 'A']);
  assert.is(badPair.code, 1);
  assert.match(badPair.stderr, /must be KEY=VALUE/);
  const badUnset = await d.cli(['env', 'unset', 'envcmd', 'A=1']);
  assert.is(badUnset.code, 1);
  assert.match(badUnset.stderr, /takes names, not KEY=VALUE/);
});

test('the API: "env" replaces the environment, "envPatch" changes it, no code and no change is refused', async () => {
  const post = async (body: Record<string, unknown>) => {
    const r = await request(`${d.url}/v1/functions/keep/deployments`, {
      method: 'POST',
      headers: { ...d.auth(), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.statusCode, body: (await r.body.json()) as Record<string, any> };
  };
  const replaced = await post({ env: { ONLY: 'x' } });
  assert.is(replaced.status, 201);
  assert.equal(replaced.body.changes.env, { added: ['ONLY'], changed: [], removed: ['A', 'B', 'E'] });
  assert.equal(await envOf('keep'), { ONLY: 'x' });
  const patched = await post({ envPatch: { ONLY: null, N: 'y' } });
  assert.is(patched.status, 201);
  assert.equal(await envOf('keep'), { N: 'y' });
  const bad = await post({ envPatch: { N: 5 } });
  assert.is(bad.status, 400);
  assert.is(bad.body.code, 'env_invalid');
  const nothing = await post({ map: 'no code' });
  assert.is(nothing.status, 400);
  assert.match(nothing.body.detail, /needs "code"/);
  assert.equal(await envOf('keep'), { N: 'y' }, 'nothing changed');
});

test.run();
