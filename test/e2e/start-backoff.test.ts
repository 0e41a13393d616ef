/**
 * A version whose instances stop loading: callers get one generic 503 (no machine id, no agent
 * output, no stack), starts are backed off instead of made per request, the operator sees the
 * real failure through the admin API, and the version serves again once it loads.
 *
 * The fixture loads until a marker file appears in the data dir (it reads the host's files, so
 * the daemon runs with IGNITION_SANDBOX=none); each failed load leaves a byte in `loads`.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon({ env: { IGNITION_SANDBOX: 'none' } });
  await deploy(d, path.join(FIXTURES, 'loads-until-told'));
});
test.after(async () => {
  await d?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const failedLoads = () => (existsSync(path.join(d.dataDir, 'loads')) ? readFileSync(path.join(d.dataDir, 'loads'), 'utf8').length : 0);

async function call() {
  const r = await request(`${d.url}/fn/loads-until-told/`);
  return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
}

test('failing starts: a generic 503, backed off, details for the operator only', async () => {
  assert.is((await call()).status, 200);
  writeFileSync(path.join(d.dataDir, 'break-loads'), '');
  const problems: Array<Record<string, unknown>> = [];
  const t0 = Date.now();
  // Fresh isolation: every request needs an instance start once the warm ones are used up. Counted
  // in requests, not in time: on a busy host each call takes longer, and the back-off's verdict
  // below compares starts with requests.
  while (problems.length < 20 && Date.now() - t0 < 60_000) {
    const r = await call();
    if (r.status !== 200) {
      assert.is(r.status, 503, r.text);
      assert.ok(Number(r.headers['retry-after']) >= 1, 'Retry-After');
      problems.push(JSON.parse(r.text));
    }
    await sleep(20);
  }
  assert.ok(problems.length >= 20, `${problems.length} refused requests`);
  for (const p of problems) {
    assert.is(p.code, 'function_unavailable');
    const text = JSON.stringify(p);
    for (const leak of ['vm_', 'told to fail', 'output', 'guestCode', ' at ', '.mjs']) assert.not.ok(text.includes(leak), `leaks ${leak}: ${text}`);
  }
  // Backed off (1 s, then 2 s, 4 s…): a start or two per back-off, not one per request.
  const seconds = (Date.now() - t0) / 1000;
  const mostStarts = 2 + Math.ceil(Math.log2(seconds + 1));
  assert.ok(failedLoads() >= 1 && failedLoads() <= mostStarts, `${failedLoads()} failed loads for ${problems.length} requests in ${seconds} s`);

  const fn = (await (await request(`${d.url}/v1/functions/loads-until-told`, { headers: d.auth() })).body.json()) as { pools: Array<Record<string, any>> };
  const failing = fn.pools.find((p) => p.startFailure);
  assert.ok(failing, JSON.stringify(fn.pools));
  assert.match(failing!.startFailure.detail, /told to fail at import/);
  assert.ok(failing!.startFailure.failures >= 1);
  assert.match(failing!.startFailure.retryAt, /^\d{4}-\d\d-\d\dT/);
});

test('once it loads again, the next start after the back-off serves and resets it', async () => {
  rmSync(path.join(d.dataDir, 'break-loads'));
  let ok = false;
  for (let i = 0; i < 100 && !ok; i++) {
    ok = (await call()).status === 200;
    if (!ok) await sleep(100);
  }
  assert.ok(ok, 'serves again within the back-off');
  const fn = (await (await request(`${d.url}/v1/functions/loads-until-told`, { headers: d.auth() })).body.json()) as { pools: Array<Record<string, any>> };
  assert.ok(
    fn.pools.every((p) => !p.startFailure),
    JSON.stringify(fn.pools),
  );
});

test.run();
