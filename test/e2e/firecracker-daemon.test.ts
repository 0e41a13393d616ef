/**
 * The whole platform on the Firecracker driver, against the fake Firecracker (a real HTTP server
 * on the API socket that answers byte for byte as Firecracker does, with the real agent behind its
 * vsock socket): deploy builds a golden snapshot (boot, load over vsock, pause, snapshot/create),
 * invocations restore from it (snapshot/load with the memory file mapped from the registry), VMs
 * are snapshotted and forked. IGNITION_FC_TRACE records the API calls that crossed the socket.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import { deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { fakeFirecrackerEnv } from '../support/fake-firecracker.ts';
import { processesUnder } from '../firecracker/support.ts';

const assets = mkdtempSync(path.join(os.tmpdir(), 'ign-fc-assets-'));
const trace = path.join(assets, 'trace.jsonl');
// Given explicitly, so stopping a daemon keeps it: the last test restarts on the same data.
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ign-fc-data-'));
let d: TestDaemon;
// Written once; every daemon of this file (the last test restarts one) gets the same environment.
let fakeEnv: Record<string, string>;
const daemonEnv = () => ({
  ...fakeEnv,
  // This disk has no reflinks (auto would leave them off): the VM test checks the Diff path.
  IGNITION_FIRECRACKER_DIFF_SNAPSHOTS: 'on',
});

test.before(async () => {
  fakeEnv = fakeFirecrackerEnv(assets, trace);
  d = await startTestDaemon({ dataDir, env: daemonEnv() });
});
test.after(async () => {
  await d?.stop();
  rmSync(assets, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

const calls = () =>
  readFileSync(trace, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { method: string; path: string; body: any });

test('the daemon runs the firecracker driver', async () => {
  const info = JSON.parse((await d.cli(['info', '--json'])).stdout);
  assert.is(info.driver.name, 'firecracker');
  assert.is(info.driver.capabilities.snapshot, 'memory');
});

test('deploy takes a golden snapshot; invocations restore from it', async () => {
  const res = (await deploy(d, path.join(FIXTURES, 'echo'), ['--env', 'A=1'])) as Awaited<ReturnType<typeof deploy>> & { timings?: Array<{ step: string }> };
  assert.is(res.created, true);
  // The build machine loads the bundle (and runs its warmup()) before the snapshot.
  const steps = (res.timings ?? []).map((t) => t.step);
  assert.ok(steps.indexOf('load') >= 0 && steps.indexOf('load') < steps.indexOf('snapshot'), steps.join(','));
  const c = calls();
  const paths = c.map((x) => `${x.method} ${x.path}`);
  assert.ok(paths.includes('PUT /actions'), 'booted');
  assert.ok(paths.includes('PATCH /vm'), 'paused for the snapshot');
  const create = c.find((x) => x.path === '/snapshot/create')!;
  assert.ok(create, 'snapshot created');
  const load = c.find((x) => x.path === '/snapshot/load')!;
  assert.ok(load, 'an instance was restored');
  assert.is(load.body.mem_backend.backend_type, 'File');
  assert.match(load.body.mem_backend.backend_path, /registry\/sha256\//, 'memory mapped from the registry, not copied');
  // Function machines are snapshotted once (build) or never (instances): no dirty page tracking.
  assert.is(c.find((x) => x.path === '/machine-config')!.body.track_dirty_pages, undefined);
  assert.is(load.body.track_dirty_pages, false);
  assert.is(create.body.snapshot_type, 'Full');
  const r = await request(`${d.url}/fn/echo/hi?x=1`, { method: 'POST', body: 'b' });
  assert.is(r.statusCode, 200);
  const echo = (await r.body.json()) as { path: string; query: string; body: string; env: Record<string, string> };
  assert.is(echo.path, '/hi');
  assert.is(echo.body, 'b');
  assert.equal(echo.env, { A: '1' }, 'env handed over after restore');
  // The daemon keeps spare VMMs (2 by default) and reports them.
  const deadline = Date.now() + 120_000;
  let metricsText = '';
  while (Date.now() < deadline) {
    metricsText = await (await request(`${d.url}/metrics`)).body.text();
    if (/ignition_vmm_spares\{kind="plain"\} 2\b/.test(metricsText)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.match(metricsText, /ignition_vmm_spares\{kind="plain"\} 2\b/);
  assert.match(metricsText, /ignition_vmm_spares\{kind="network"\} 0\b/, 'no VM with network asked for one');
});

test('VMs on firecracker: run, exec, snapshot, fork', async () => {
  const from = calls().length;
  const run = await d.cli(['vm', 'run', '--name', 'fcbox']);
  assert.is(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  const ex = await d.cli(['vm', 'exec', id, '--', 'sh', '-c', 'echo in-guest']);
  assert.is(ex.stdout, 'in-guest\n');
  // Pause is PATCH /vm Paused on this driver; a paused guest takes no exec until resumed.
  assert.match((await d.cli(['vm', 'pause', 'fcbox'])).stdout, /paused/);
  assert.match((await d.cli(['vm', 'exec', id, '--', 'true'])).stderr, /is paused.*\[conflict\]/);
  assert.match((await d.cli(['vm', 'resume', 'fcbox'])).stdout, /running/);
  const ps = JSON.parse((await d.cli(['vm', 'ps', '--json'])).stdout) as { id: string; name: string; state: string; driver: string }[];
  assert.equal(
    ps.map((v) => [v.id, v.name, v.state, v.driver]),
    [[id, 'fcbox', 'running', 'firecracker']],
  );
  const logs = JSON.parse((await d.cli(['vm', 'logs', 'fcbox', '--json'])).stdout) as { message: string }[];
  assert.ok(
    logs.some((l) => /ignition-agent ready/.test(l.message)),
    'the guest console from its first line',
  );
  const snap = await d.cli(['vm', 'snapshot', id, '--name', 'fcbox-snap']);
  assert.is(snap.code, 0, snap.stderr);
  assert.match(snap.stdout.trim(), /^snap_/);
  const fork = await d.cli(['vm', 'fork', id, '--count', '3', '--json']);
  assert.is(fork.code, 0, fork.stderr);
  const clones = JSON.parse(fork.stdout) as Array<{ id: string; state: string }>;
  assert.is(clones.length, 3);
  for (const c of clones) {
    assert.is(c.state, 'running');
    const e = await d.cli(['vm', 'exec', c.id, '--', 'true']);
    assert.is(e.code, 0, e.stderr);
  }
  assert.is((await d.cli(['vm', 'exec', id, '--', 'true'])).code, 0, 'the source keeps running');
  // A `vm` machine tracks dirty pages; its fork snapshot is a Diff onto the registry's copy of
  // the first snapshot (the directory that snapshot was written to is gone by then).
  const since = calls().slice(from);
  assert.is(since.find((c) => c.path === '/machine-config')?.body.track_dirty_pages, true);
  assert.equal(
    since.filter((c) => c.path === '/snapshot/create').map((c) => c.body.snapshot_type),
    ['Full', 'Diff'],
  );
  // Every flow's steps reach /metrics: the VM's boot, its snapshots, the clones' restores.
  const metrics = await (await request(`${d.url}/metrics`)).body.text();
  for (const [flow, step] of [
    ['boot', 'instance-start'],
    ['snapshot', 'memory-base'],
    ['snapshot', 'snapshot-create'],
    ['restore', 'snapshot-load'],
    ['restore', 'agent-restore'],
  ]) {
    assert.match(metrics, new RegExp(`ignition_restore_step_seconds_count\\{driver="firecracker",flow="${flow}",step="${step}"\\} [1-9]`), `${flow}/${step}`);
  }
  const badCount = await d.cli(['vm', 'fork', id, '--count', '0']);
  assert.is(badCount.code, 1);
  assert.match(badCount.stderr, /--count must be an integer from 1 to 1000; got "0".*\[bad_request\]/);
  const resized = await d.cli(['vm', 'run', '--snapshot', 'fcbox-snap', '--memory', '512']);
  assert.is(resized.code, 1);
  assert.match(resized.stderr, /was taken with 128 MiB and 1 vCPU\(s\).*\[bad_request\]/);
  const restored = await d.cli(['vm', 'run', '--snapshot', 'fcbox-snap']);
  assert.is(restored.code, 0, restored.stderr);
  const sized = JSON.parse((await d.cli(['vm', 'inspect', restored.stdout.trim()])).stdout);
  assert.equal([sized.memoryMiB, sized.vcpus, sized.source], [128, 1, JSON.parse((await d.cli(['inspect', 'fcbox-snap'])).stdout).id]);
  // kill stops the VMM and keeps the record; rm removes both.
  assert.match((await d.cli(['vm', 'kill', restored.stdout.trim()])).stdout, /stopped/);
  assert.is(JSON.parse((await d.cli(['vm', 'inspect', restored.stdout.trim()])).stdout).state, 'stopped');
  for (const v of [id, restored.stdout.trim(), ...clones.map((c) => c.id)]) assert.is((await d.cli(['vm', 'rm', v])).code, 0);
  assert.equal(JSON.parse((await d.cli(['vm', 'ps', '--json'])).stdout), []);
});

test('a daemon killed outright takes its VMMs with it, adopted spares included; the next start removes their workspaces', async () => {
  const r = await request(`${d.url}/fn/echo/again`, { method: 'POST', body: 'x' });
  assert.is(r.statusCode, 200);
  await r.body.text();
  const machinesDir = path.join(d.dataDir, 'machines');
  // User VMs keep their workspace (marked stopped); a function's instances must go.
  const userVms = new Set((JSON.parse((await d.cli(['vm', 'ps', '--json'])).stdout) as { id: string }[]).map((v) => v.id));
  const instances = readdirSync(machinesDir).filter((n) => n.startsWith('vm_') && !userVms.has(n));
  assert.ok(instances.length >= 1, 'an instance runs (restored on a spare VMM)');
  const left = processesUnder(machinesDir);
  assert.ok(left.length >= 2, 'VMMs (the fake and its guest) run under the data dir');
  await d.stop('SIGKILL');
  // The launcher, which spawned them, sees its channel close and kills each VMM's process group
  // (the fake and its guest): the daemon's death ends them.
  for (let i = 0; i < 100 && left.some((pid) => processesUnder(machinesDir).includes(pid)); i++) await new Promise((r) => setTimeout(r, 100));
  const survivors = left.filter((pid) => processesUnder(machinesDir).includes(pid));
  assert.equal(survivors, [], 'every VMM of the killed daemon is gone');
  // The next start removes what they left.
  d = await startTestDaemon({ dataDir, env: daemonEnv() });
  for (const id of instances) assert.not.ok(readdirSync(machinesDir).includes(id), `${id}'s workspace removed`);
});

test.run();
