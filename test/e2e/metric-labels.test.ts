/**
 * Anonymous callers cannot grow /metrics: requests to functions that do not exist (or whose names
 * are not even valid) count under `function="_unknown"`, and nothing else a caller picks (an
 * alias that does not exist, a path, a made-up method) becomes a label value.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { sharedDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
sharedDaemon(test, ['echo'], (daemon) => (d = daemon));

async function status(url: string, method = 'GET'): Promise<number> {
  const r = await request(url, { method });
  await r.body.text();
  return r.statusCode;
}

const metrics = async () => (await (await request(`${d.url}/metrics`)).body.text()).split('\n');

test('unknown functions, aliases, paths and methods add no series', async () => {
  const before = (await metrics()).length;
  for (let i = 0; i < 100; i++) assert.is(await status(`${d.url}/fn/nope-${i}/p${i}`), 404);
  for (let i = 0; i < 20; i++) assert.is(await status(`${d.url}/fn/Bad_Name${i}/`), 400);
  for (let i = 0; i < 20; i++) assert.is(await status(`${d.url}/fn/echo@ghost-${i}/`), 404);
  // Node's parser refuses methods it does not know (400 before any code of ours runs); the ones it
  // knows reach the function and must not become labels either.
  for (const [i, method] of ['PROPFIND', 'MKCOL', 'PURGE', 'SEARCH'].entries()) assert.is(await status(`${d.url}/fn/echo/path-${i}`, method), 200);
  const lines = await metrics();
  const text = lines.join('\n');
  for (const chosen of ['nope-', 'Bad_Name', 'ghost-', 'path-', 'PROPFIND', 'MKCOL', 'PURGE', 'SEARCH'])
    assert.not.ok(text.includes(chosen), `no label holds ${chosen}`);
  assert.ok(lines.includes('ignition_invocation_errors_total{code="function_not_found",function="_unknown"} 100'), text);
  assert.ok(lines.includes('ignition_invocation_errors_total{code="invalid_name",function="_unknown"} 20'), text);
  assert.ok(lines.includes('ignition_invocation_errors_total{code="version_not_found",function="echo"} 20'), text);
  // Only platform-defined function labels, whatever else the daemon did meanwhile (a spare's
  // start adds step series of its own); and a bounded number of new lines, not some per request:
  // 140 requests to distinct names would add hundreds.
  const labels = new Set([...text.matchAll(/function="([^"]*)"/g)].map((m) => m[1]));
  assert.equal([...labels].sort(), ['_unknown', 'echo']);
  assert.ok(lines.length - before < 200, `${lines.length - before} new lines`);
});

test.run();
