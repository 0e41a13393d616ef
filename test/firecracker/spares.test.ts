/**
 * Spare VMMs (platform/vmm/firecracker/spares.ts) against the fake Firecracker spawned like the
 * real binary: a restore adopts a spare (no spawn, no api-ready step, the API answering at the new
 * workspace), spares primed with the snapshot's disk skip the disk step too, a dead spare is
 * replaced, close() and a crashed run's leftovers leave no process and no directory. Nothing here
 * is timed: the steps a restore ran are what is asserted.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Client } from 'undici';
import { FirecrackerDriver } from '../../platform/vmm/firecracker/driver.ts';
import { reapSpares, SparePool } from '../../platform/vmm/firecracker/spares.ts';
import { resolveOptions } from '../../platform/vmm/firecracker/options.ts';
import { AGENT_BUILT, AGENT_FIX, agentCall, bootSpec, FAKE_BINARY, makeAssets, processesUnder, settleProcesses } from './support.ts';
import { reportSkip } from '../support/needs.ts';

const skip = AGENT_BUILT ? null : AGENT_FIX;
reportSkip('test/firecracker/spares.test.ts', skip);
const t = skip ? test.skip : test;

const slow = { startTimeoutMs: 60_000, bootAgentTimeoutMs: 60_000, restoreAgentTimeoutMs: 60_000, apiTimeoutMs: 30_000 };

const spec = bootSpec;

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const spareDirs = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith('.spare-')) : []);

async function apiId(workspace: string): Promise<string> {
  const c = new Client('http://localhost', { socketPath: path.join(workspace, 'api.sock') });
  try {
    const r = await c.request({ method: 'GET', path: '/' });
    return ((await r.body.json()) as { id: string }).id;
  } finally {
    await c.close();
  }
}

t('a restore adopts a spare; spares primed with the disk skip the disk step; the pool refills', async () => {
  const a = makeAssets();
  const ws = path.join(a.root, 'ws');
  const driver = new FirecrackerDriver({ binary: FAKE_BINARY, kernel: a.kernel, rootfs: a.rootfs, ...slow, workspacesDir: ws, spares: 2 });
  try {
    const source = await driver.boot(spec(a.root, 'vm_src', a.bundle));
    const snapshot = await source.snapshot(path.join(a.root, 'snap'));
    await driver.spares!.settled();
    assert.is(driver.spares!.size, 2);

    const r1 = await driver.restore({ ...spec(a.root, 'vm_r1'), snapshot });
    const steps1 = r1.timings.map((s) => s.step);
    assert.not.ok(steps1.includes('spawn'), `no spawn: ${steps1}`);
    assert.not.ok(steps1.includes('api-ready'));
    assert.ok(steps1.includes('disk'), 'the first spares were not primed: the disk is cloned');
    // The adopted VMM answers at the VM's own workspace and serves the restored function.
    assert.match(await apiId(r1.workspace), /^spare-/);
    const res = await agentCall(r1, 'GET', '/v1/invoke/x');
    assert.is(res.status, 200);
    assert.match(res.text, /^hello \/x/);
    assert.ok(statSync(path.join(r1.workspace, 'rootfs.ext4')).size > 0);
    assert.not.ok(existsSync(path.join(r1.workspace, 'vmm.pid')));

    // Spares started after that restore hold a clone of its disk.
    await until('the pool to refill', () => driver.spares!.size === 2);
    await driver.spares!.settled();
    const r2 = await driver.restore({ ...spec(a.root, 'vm_r2'), snapshot });
    const steps2 = r2.timings.map((s) => s.step);
    assert.equal(steps2, ['check-snapshot', 'workspace', 'stage-snapshot', 'snapshot-load', 'agent-health']);
    assert.is(readFileSync(path.join(r2.workspace, 'rootfs.ext4')).subarray(0, 15).toString(), readFileSync(snapshot.disk).subarray(0, 15).toString());
    assert.is((await agentCall(r2, 'GET', '/v1/invoke/y')).status, 200);

    await Promise.all([r1.destroy(), r2.destroy(), source.destroy()]);
    assert.not.ok(existsSync(r1.workspace));
    assert.not.ok(existsSync(r2.workspace));
  } finally {
    await driver.close();
    for (const m of driver.machines) await m.destroy();
  }
  assert.equal(spareDirs(ws), [], 'close() removes every spare directory');
  assert.equal(await settleProcesses(a.root, 30_000), [], 'no process left');
  a.cleanup();
});

t('without spares ready a restore spawns as before; a dead spare is replaced', async () => {
  const a = makeAssets();
  const ws = path.join(a.root, 'ws');
  const opts = resolveOptions({ binary: FAKE_BINARY, kernel: a.kernel, rootfs: a.rootfs, ...slow, workspacesDir: ws });
  const pool = new SparePool(opts, { count: 1, dir: ws });
  try {
    await pool.settled();
    assert.is(pool.size, 1);
    const [dir] = spareDirs(ws);
    const pid = Number(readFileSync(path.join(ws, dir, 'vmm.pid'), 'utf8'));
    process.kill(-pid, 'SIGKILL');
    await until('the dead spare to be replaced', () => pool.size === 1 && !spareDirs(ws).includes(dir));
    assert.is(spareDirs(ws).length, 1);
    // Adopting into a non-empty directory fails and keeps the spare.
    const busy = path.join(a.root, 'busy');
    mkdirSync(busy);
    writeFileSync(path.join(busy, 'f'), '');
    assert.is(pool.adopt(busy, 'vm_busy', a.rootfs), undefined);
    assert.is(pool.size, 1);
  } finally {
    await pool.close();
  }
  assert.equal(spareDirs(ws), []);
  assert.equal(await settleProcesses(a.root, 30_000), []);

  // No spares at all: the driver spawns.
  const driver = new FirecrackerDriver({ binary: FAKE_BINARY, kernel: a.kernel, rootfs: a.rootfs, ...slow, workspacesDir: ws });
  try {
    assert.is(driver.spares, undefined);
    const source = await driver.boot(spec(a.root, 'vm_src2', a.bundle));
    const snapshot = await source.snapshot(path.join(a.root, 'snap2'));
    const r = await driver.restore({ ...spec(a.root, 'vm_r3'), snapshot });
    assert.ok(r.timings.some((s) => s.step === 'spawn'));
    await Promise.all([r.destroy(), source.destroy()]);
  } finally {
    await driver.close();
  }
  a.cleanup();
});

t('spares left by a crashed run are ended and removed by the next pool', async () => {
  const a = makeAssets();
  const ws = path.join(a.root, 'ws');
  const opts = resolveOptions({ binary: FAKE_BINARY, kernel: a.kernel, rootfs: a.rootfs, ...slow, workspacesDir: ws });
  // The "crashed" run: a pool that is never closed.
  const crashed = new SparePool(opts, { count: 2, dir: ws });
  await crashed.settled();
  assert.is(spareDirs(ws).length, 2);
  const pids = spareDirs(ws).map((d) => Number(readFileSync(path.join(ws, d, 'vmm.pid'), 'utf8')));
  assert.ok(processesUnder(a.root).length >= 2);
  // A directory of ours without a pid file and a pid file naming a process elsewhere.
  mkdirSync(path.join(ws, '.spare-nopid'));
  mkdirSync(path.join(ws, '.spare-other'));
  writeFileSync(path.join(ws, '.spare-other', 'vmm.pid'), `${process.pid}\n`);
  mkdirSync(path.join(ws, 'vm_keep'));
  assert.is(reapSpares(ws), 4);
  assert.equal(spareDirs(ws), []);
  assert.ok(existsSync(path.join(ws, 'vm_keep')), 'only spare directories are touched');
  for (const pid of pids) {
    await until(`spare ${pid} to end`, () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  }
  await crashed.close();
  assert.equal(await settleProcesses(a.root, 30_000), []);
  a.cleanup();
});

test.run();
