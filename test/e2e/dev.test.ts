/**
 * `ignition dev` redeploys on change and shows build errors with file and line while the previous
 * version keeps serving; `ignition doctor` reports the host and fails for a driver it cannot run.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { CLI, runCli, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { waitForText } from '../support/wait.ts';
import { hostResolvers } from '../../platform/network/dns.ts';

let d: TestDaemon;
const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-dev-'));
const source = (text: string) => `export default { fetch: () => { console.log('dev-log ${text}'); return new Response('${text}'); } };\n`;

test.before(async () => {
  d = await startTestDaemon();
  writeFileSync(path.join(dir, 'index.ts'), source('one'));
});
test.after(async () => {
  await d?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('dev: deploy, redeploy on change, build errors keep the old version, logs stream', async () => {
  const child = spawn(process.execPath, [CLI, 'dev', dir, '--name', 'devfn'], {
    env: { ...process.env, IGNITION_HOST: d.url, IGNITION_DATA_DIR: d.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  try {
    await waitForText(() => out, /deployed devfn v1/, 'first deploy');
    const body = async () => await (await request(`${d.url}/fn/devfn/`)).body.text();
    assert.is(await body(), 'one');
    await waitForText(() => out, /dev-log one/, 'the log line');
    writeFileSync(path.join(dir, 'index.ts'), source('two'));
    await waitForText(() => out, /deployed devfn v2/, 'redeploy');
    assert.is(await body(), 'two');
    writeFileSync(path.join(dir, 'index.ts'), 'export default { fetch() { return new Response("x" }\n');
    await waitForText(() => out, /index\.ts:1:\d+: .*\[build_failed\] \(the previous version keeps serving\)/, 'the build error');
    assert.is(await body(), 'two');
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
});

test('doctor: ready on the process driver; not ready when firecracker is required here', async () => {
  const ok = await runCli(['doctor', '--json'], { env: { IGNITION_DRIVER: 'process', IGNITION_DATA_DIR: dir } });
  assert.is(ok.code, 0, ok.stderr);
  const report = JSON.parse(ok.stdout);
  assert.is(report.driver, 'process');
  const network = report.process.find((c: { name: string }) => c.name === 'network');
  assert.ok(network.advice, 'host networking is off by default: advice, with its fix');
  assert.match(network.detail, /shares the host's network namespace.*\(host networking is off\)/);
  assert.match(network.fix, /IGNITION_NETWORK=on/);
  const on = JSON.parse((await runCli(['doctor', '--json'], { env: { IGNITION_DRIVER: 'process', IGNITION_DATA_DIR: dir, IGNITION_NETWORK: 'on' } })).stdout);
  const slot = on.process.find((c: { name: string }) => c.name === 'network');
  if (process.getuid?.() === 0) assert.match(slot.detail, /runs in a network slot of its own/);
  else assert.match(slot.detail, /host networking needs root/);
  // Name servers: the host's where a slot can reach them (dns.ts), in the Firecracker section
  // always and in the process section once functions with network get a slot.
  const hostDns = hostResolvers();
  const names = report.firecracker.find((c: { name: string }) => c.name === 'dns');
  if (hostDns.length > 0) assert.is(names.detail, `functions with network resolve names through ${hostDns.join(', ')}`);
  else assert.ok(names.advice && /cannot resolve names/.test(names.detail) && /network\.dns/.test(names.fix), names.detail);
  assert.is(
    report.process.find((c: { name: string }) => c.name === 'dns'),
    undefined,
    'not where functions share the host’s namespace',
  );
  if (process.getuid?.() === 0)
    assert.ok(
      on.process.find((c: { name: string }) => c.name === 'dns'),
      'but with a slot of their own',
    );
  const configured = path.join(dir, 'dns.config.ts');
  writeFileSync(configured, "export default { network: { dns: ['9.9.9.9'] } };\n");
  const named = JSON.parse(
    (await runCli(['doctor', '--json', '--config', configured], { env: { IGNITION_DRIVER: 'process', IGNITION_DATA_DIR: dir } })).stdout,
  );
  assert.is(named.firecracker.find((c: { name: string }) => c.name === 'dns').detail, 'functions with network resolve names through 9.9.9.9');
  writeFileSync(configured, "export default { network: { dns: ['127.0.0.53'] } };\n");
  const wrong = JSON.parse(
    (await runCli(['doctor', '--json', '--config', configured], { env: { IGNITION_DRIVER: 'process', IGNITION_DATA_DIR: dir } })).stdout,
  );
  const bad = wrong.firecracker.find((c: { name: string }) => c.name === 'dns');
  assert.ok(bad.advice, 'an invalid network block is advice: the daemon runs without host networking');
  assert.match(bad.detail, /network\.dns entry "127\.0\.0\.53" is a loopback/);
  const reflinks = report.firecracker.find((c: { name: string }) => c.name === 'reflinks');
  assert.match(reflinks.detail, /disk clones are (reflinks|sparse copies); incremental snapshots (on|off) \(auto\)/);
  const fc = await runCli(['doctor'], {
    env: { IGNITION_DRIVER: 'firecracker', IGNITION_DATA_DIR: dir, IGNITION_FIRECRACKER_BIN: '/nonexistent/firecracker' },
  });
  assert.is(fc.code, 1);
  assert.match(fc.stdout, /MISSING firecracker\s+binary "\/nonexistent\/firecracker" not found/);
  assert.match(fc.stdout, /fix: scripts\/fetch-assets\.sh/);
});

test.run();
