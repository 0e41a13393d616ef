/**
 * Versions, aliases and traffic: rollback, weighted splits, bad weights, no failed request while a
 * deploy happens under steady load, and the Prometheus metrics that count it all.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { request } from 'undici';
import { deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
const echo = path.join(FIXTURES, 'echo');
const envOf = async (target: string) => {
  const r = await request(`${d.url}/fn/${target}/`);
  const body = (await r.body.json()) as { env: { V: string } };
  return body.env.V;
};

test.before(async () => {
  d = await startTestDaemon();
  await deploy(d, echo, ['--name', 'ver', '--env', 'V=1']);
  await deploy(d, echo, ['--name', 'ver', '--env', 'V=2']);
});
test.after(async () => {
  await d?.stop();
});

test('rollback moves latest back, or to a named version', async () => {
  assert.is(await envOf('ver'), '2');
  const r = await d.cli(['rollback', 'ver']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /from v2 to v1/);
  assert.is(await envOf('ver'), '1');
  assert.is((await d.cli(['rollback', 'ver', '--to', 'v2'])).code, 0);
  assert.is(await envOf('ver'), '2');
  const bad = await d.cli(['rollback', 'ver', '--to', 'v9']);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /has no version v9 \[version_not_found\]/);
});

test('a weighted split sends traffic to both versions', async () => {
  const r = await d.cli(['alias', 'set', 'ver', 'canary', 'v1=50', 'v2=50']);
  assert.is(r.code, 0, r.stderr);
  const seen = new Set<string>();
  for (let i = 0; i < 60 && seen.size < 2; i++) seen.add(await envOf('ver@canary'));
  assert.equal([...seen].sort(), ['1', '2']);
  const ls = JSON.parse((await d.cli(['alias', 'ls', 'ver', '--json'])).stdout);
  assert.equal(ls.map((a: { name: string }) => a.name).sort(), ['canary', 'latest']);
});

test('bad splits are refused with clear errors', async () => {
  const sum = await d.cli(['alias', 'set', 'ver', 'canary', 'v1=50', 'v2=40']);
  assert.is(sum.code, 1);
  assert.match(sum.stderr, /weights must sum to 100 \(they sum to 90\) \[bad_request\]/);
  const missing = await d.cli(['alias', 'set', 'ver', 'canary', 'v1=50', 'v7=50']);
  assert.match(missing.stderr, /\[version_not_found\]/);
  const form = await d.cli(['alias', 'set', 'ver', 'canary', 'v1:50']);
  assert.match(form.stderr, /must be VERSION=WEIGHT/);
  assert.match((await d.cli(['alias', 'rm', 'ver', 'latest'])).stderr, /cannot be removed/);
  assert.is((await d.cli(['alias', 'rm', 'ver', 'canary'])).code, 0);
  const gone = await request(`${d.url}/fn/ver@canary/`);
  assert.is(gone.statusCode, 404);
  assert.is(((await gone.body.json()) as { code: string }).code, 'version_not_found');
});

test('no request fails while a new version is deployed under steady load', async () => {
  let stop = false;
  const statuses: number[] = [];
  const values = new Set<string>();
  const loop = async () => {
    while (!stop) {
      const r = await request(`${d.url}/fn/ver/`);
      statuses.push(r.statusCode);
      values.add(((await r.body.json()) as { env: { V: string } }).env.V);
    }
  };
  const workers = Array.from({ length: 4 }, loop);
  await new Promise((r) => setTimeout(r, 300));
  await deploy(d, echo, ['--name', 'ver', '--env', 'V=3']);
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  await Promise.all(workers);
  assert.ok(statuses.length > 10, `${statuses.length} requests made`);
  assert.equal(
    statuses.filter((s) => s !== 200),
    [],
    'every request succeeded',
  );
  assert.ok(values.has('3'), 'the new version served');
});

test('/metrics counts invocations, cold and warm, and restore times', async () => {
  const res = await request(`${d.url}/metrics`);
  assert.is(res.statusCode, 200);
  const text = await res.body.text();
  assert.match(text, /# TYPE ignition_invocations_total counter/);
  assert.match(text, /ignition_invocations_total\{function="ver",outcome="2xx",start="warm",version="ver_[0-9a-f]+"\} \d+/);
  assert.match(text, /ignition_invocation_errors_total\{code="version_not_found",function="ver"\} 1/);
  assert.match(text, /ignition_restore_duration_seconds_count\{driver="process"\} [1-9]/);
  // A restore's steps: install-bundle is one both ways, adopting a spare (then load) or cold (then spawn, agent-ready).
  assert.match(text, /ignition_restore_step_seconds_bucket\{driver="process",flow="restore",step="install-bundle",le="[^"]+"\}/);
  assert.match(text, /ignition_instances\{function="ver",state="idle"\} \d+/);
});

test.run();
