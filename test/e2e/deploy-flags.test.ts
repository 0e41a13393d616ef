/**
 * What `ignition deploy` is given is checked before anything is deployed, and a mistake is one
 * line on stderr that names what the user typed, with a non-zero exit and nothing on stdout: an
 * empty --name, a flag value that is not a number or out of range (negative numbers included),
 * minWarm above maxInstances (refused by the API too), a directory whose name is no function
 * name (with a name that would do), an unknown flag. A single file deploys as its own entry.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
const echo = path.join(FIXTURES, 'echo');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ign-flags-'));
const fn = (text: string) => `export default { fetch: () => new Response('${text}') };\n`;

test.before(async () => {
  d = await startTestDaemon();
  mkdirSync(path.join(tmp, 'My_Func'));
  writeFileSync(path.join(tmp, 'My_Func', 'index.ts'), fn('mine'));
  mkdirSync(path.join(tmp, 'src'));
  writeFileSync(path.join(tmp, 'src', 'worker.ts'), fn('worker'));
  writeFileSync(path.join(tmp, 'src', 'index.ts'), fn('index'));
});
test.after(async () => {
  await d?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function functions(): Promise<string[]> {
  const r = await request(`${d.url}/v1/functions`, { headers: d.auth() });
  return ((await r.body.json()) as { functions: Array<{ name: string }> }).functions.map((f) => f.name).sort();
}

/** Runs a deploy that must fail: exit 1, nothing on stdout, and one error line on stderr. */
async function refused(args: string[], detail: RegExp) {
  const r = await d.cli(['deploy', ...args]);
  const label = args.join(' ');
  assert.is(r.code, 1, label);
  assert.is(r.stdout, '', `${label}: nothing on stdout`);
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
  assert.is(errors.length, 1, `${label}: one error line in\n${r.stderr}`);
  assert.ok(r.stderr.endsWith(`${errors[0]}\n`), `${label}: the error is the last line`);
  assert.match(errors[0], detail, label);
  return errors[0];
}

test('bad names and flag values are refused with one line naming what was typed', async () => {
  await refused([echo, '--name', ''], /^error: --name must be a non-empty string \[invalid_name\]$/);
  await refused([echo, '--name', 'My_Func'], /--name "My_Func" must use lowercase .*; deploy with --name my-func \[invalid_name\]$/);
  const timeout = await refused([echo, '--timeout', 'abc'], /^error: --timeout must be an integer from 1 to \d+ \(got "abc"\) \[bad_request\]$/);
  assert.not.match(timeout, /timeoutMs/);
  await refused([echo, '--memory', '-5'], /^error: --memory must be an integer from 16 to \d+ \(got "-5"\) \[bad_request\]$/);
  await refused([echo, '--min-warm', '1.5'], /^error: --min-warm must be an integer/);
  await refused([echo, '--isolation', 'shared'], /^error: --isolation must be one of "reuse", "fresh" \(got "shared"\)/);
  await refused([echo, '--min-warm', '50', '--max-instances', '2'], /minWarm \(50\) must not exceed maxInstances \(2\) \[config_invalid\]$/);
  // The default maxInstances (10) counts as well as a stated one.
  await refused([echo, '--min-warm', '20'], /minWarm \(20\) must not exceed maxInstances \(10\) \[config_invalid\]$/);
  await refused(
    [path.join(tmp, 'My_Func')],
    /function name from the directory name "My_Func" must use lowercase .*; deploy with --name my-func \[invalid_name\]$/,
  );
  await refused([echo, '--bogus'], /^error: Unsupported option name \("--bogus"\); see "ignition deploy --help" \[bad_request\]$/);
  await refused([path.join(tmp, 'nope.ts')], /nope\.ts does not exist \[no_entry\]$/);
  assert.equal(await functions(), [], 'nothing was deployed');
});

test('the API refuses minWarm above maxInstances', async () => {
  const r = await request(`${d.url}/v1/functions/warm/deployments`, {
    method: 'POST',
    headers: { ...d.auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ code: fn('x'), settings: { minWarm: 3, maxInstances: 2 } }),
  });
  assert.is(r.statusCode, 400);
  const problem = (await r.body.json()) as { code: string; detail: string };
  assert.is(problem.code, 'config_invalid');
  assert.match(problem.detail, /minWarm \(3\) must not exceed maxInstances \(2\)/);
  assert.equal(await functions(), []);
});

test('a file deploys as its own entry, named after it (an index file after its directory)', async () => {
  const worker = await d.cli(['deploy', path.join(tmp, 'src', 'worker.ts')]);
  assert.is(worker.code, 0, worker.stderr);
  assert.match(worker.stdout, /\/fn\/worker\/\n$/);
  assert.is(await (await request(`${d.url}/fn/worker/`)).body.text(), 'worker');
  const index = await d.cli(['deploy', path.join(tmp, 'src', 'index.ts')]);
  assert.is(index.code, 0, index.stderr);
  assert.is(await (await request(`${d.url}/fn/src/`)).body.text(), 'index');
  const named = await d.cli(['deploy', path.join(tmp, 'My_Func', 'index.ts'), '--name', 'my-func']);
  assert.is(named.code, 0, named.stderr);
  assert.is(await (await request(`${d.url}/fn/my-func/`)).body.text(), 'mine');
});

test.run();
