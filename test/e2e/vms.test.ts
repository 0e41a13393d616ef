/**
 * The low-level VM surface on the process driver, through the real CLI: run, ps, inspect, exec,
 * pause/resume, logs, kill (record kept), rm (record and workspace gone); what the process driver
 * cannot do (snapshot, fork) is an `unsupported` problem, not a fake.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestDaemon, type TestDaemon } from '../support/daemon.ts';

let d: TestDaemon;
let id: string;
test.before(async () => {
  d = await startTestDaemon();
});
test.after(async () => {
  await d?.stop();
});

test('vm run starts a machine; ps and inspect show it', async () => {
  const r = await d.cli(['vm', 'run', '--name', 'box', '--memory', '192', '--vcpus', '2']);
  assert.is(r.code, 0, r.stderr);
  id = r.stdout.trim();
  assert.match(id, /^vm_/);
  const ps = JSON.parse((await d.cli(['vm', 'ps', '--json'])).stdout);
  assert.equal(
    ps.map((v: { id: string; name: string; state: string }) => [v.id, v.name, v.state]),
    [[id, 'box', 'running']],
  );
  const inspect = JSON.parse((await d.cli(['vm', 'inspect', 'box'])).stdout);
  assert.is(inspect.id, id);
  assert.equal([inspect.memoryMiB, inspect.vcpus], [192, 2]);
  assert.ok(inspect.timings.some((t: { step: string }) => t.step === 'agent-ready'));
  const taken = await d.cli(['vm', 'run', '--name', 'box']);
  assert.is(taken.code, 1);
  assert.match(taken.stderr, /already exists.*\[conflict\]/);
});

test('vm logs shows the guest console', async () => {
  const r = await d.cli(['vm', 'logs', 'box', '--json']);
  assert.is(r.code, 0, r.stderr);
  const lines = JSON.parse(r.stdout) as { message: string }[];
  assert.ok(
    lines.some((l) => /ignition-agent ready/.test(l.message)),
    JSON.stringify(lines).slice(0, 300),
  );
});

test('vm exec runs a command and exits with its code', async () => {
  const ok = await d.cli(['vm', 'exec', id, '--', 'sh', '-c', 'echo hi; echo oops >&2']);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(ok.stdout, 'hi\n');
  assert.is(ok.stderr, 'oops\n');
  const fail = await d.cli(['vm', 'exec', id, '--', 'sh', '-c', 'exit 4']);
  assert.is(fail.code, 4);
  const missing = await d.cli(['vm', 'exec', id, '--', '/nope/nothing']);
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /\[exec_not_found\]/);
});

test('pause and resume; exec on a paused VM is refused at once', async () => {
  assert.match((await d.cli(['vm', 'pause', id])).stdout, /paused/);
  const frozen = await d.cli(['vm', 'exec', id, '--', 'true']);
  assert.is(frozen.code, 1);
  assert.match(frozen.stderr, /is paused: resume it to exec.*\[conflict\]/);
  assert.match((await d.cli(['vm', 'resume', id])).stdout, /running/);
  assert.is((await d.cli(['vm', 'exec', id, '--', 'true'])).code, 0);
});

test('snapshot and fork are unsupported on the process driver', async () => {
  const s = await d.cli(['vm', 'snapshot', id]);
  assert.is(s.code, 1);
  assert.match(s.stderr, /cannot snapshot a running machine.*\[unsupported\]/);
  const f = await d.cli(['vm', 'fork', id, '--count', '2']);
  assert.is(f.code, 1);
  assert.match(f.stderr, /\[unsupported\]/);
});

test('kill keeps the record; rm removes record and workspace', async () => {
  const workspace = JSON.parse((await d.cli(['vm', 'inspect', id])).stdout).workspace;
  assert.match((await d.cli(['vm', 'kill', id])).stdout, /stopped/);
  const ps = JSON.parse((await d.cli(['vm', 'ps', '--json'])).stdout);
  assert.is(ps[0].state, 'stopped');
  const exec = await d.cli(['vm', 'exec', id, '--', 'true']);
  assert.match(exec.stderr, /\[vm_not_running\]/);
  assert.is((await d.cli(['vm', 'rm', id])).code, 0);
  assert.not.ok(existsSync(workspace));
  assert.equal(JSON.parse((await d.cli(['vm', 'ps', '--json'])).stdout), []);
  const again = await d.cli(['vm', 'rm', id]);
  assert.match(again.stderr, /no VM .*\[not_found\]/);
});

test('a VM name outlives a daemon restart: it still resolves, and stays taken until vm rm', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ign-vm-names-'));
  let a: TestDaemon | undefined = await startTestDaemon({ dataDir });
  try {
    const run = await a.cli(['vm', 'run', '--name', 'keep']);
    assert.is(run.code, 0, run.stderr);
    await a.stop();
    a = await startTestDaemon({ dataDir });
    const inspect = JSON.parse((await a.cli(['vm', 'inspect', 'keep'])).stdout);
    assert.equal([inspect.id, inspect.name, inspect.state], [run.stdout.trim(), 'keep', 'stopped']);
    const again = await a.cli(['vm', 'run', '--name', 'keep']);
    assert.match(again.stderr, /already exists.*\[conflict\]/);
    assert.is((await a.cli(['vm', 'rm', 'keep'])).code, 0);
    const reused = await a.cli(['vm', 'run', '--name', 'keep']);
    assert.is(reused.code, 0, reused.stderr);
    assert.is((await a.cli(['vm', 'rm', 'keep'])).code, 0);
  } finally {
    await a?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('net ls: host networking is off on the process driver, and says why', async () => {
  const r = await d.cli(['net', 'ls']);
  assert.is(r.code, 0, r.stderr);
  // Test daemons run with IGNITION_NETWORK=off; either way the reason is given.
  assert.match(r.stdout, /Host networking is off: (the process driver needs no host networking|disabled by configuration)/);
  const info = JSON.parse((await d.cli(['info', '--json'])).stdout);
  assert.is(info.network.enabled, false);
});

test.run();
