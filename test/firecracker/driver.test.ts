/**
 * The Firecracker driver against the fake Firecracker, spawned as its own process exactly like the
 * real binary: the Machine contract suite (boot, vsock health, pause/resume, snapshot/restore,
 * forks of 3 and 20 clones), plus what only this driver has (named step lists, the trace of API
 * calls a boot and a restore make, the memory file shared and never copied).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirecrackerDriver } from '../../platform/vmm/firecracker/driver.ts';
import { machineContract } from './contract.ts';
import { AGENT_BUILT, AGENT_FIX, bootSpec, FAKE_BINARY, makeAssets, rawExchange, readTrace, settleProcesses } from './support.ts';
import { reportSkip } from '../support/needs.ts';
import { readStat } from '../support/procstat.ts';

const skip = AGENT_BUILT ? null : AGENT_FIX;
reportSkip('test/firecracker/driver.test.ts', skip);

// Deadlines are generous: a busy CI machine starts Node processes slowly. Nothing is timed.
const slow = { startTimeoutMs: 60_000, bootAgentTimeoutMs: 60_000, restoreAgentTimeoutMs: 60_000, apiTimeoutMs: 30_000 };

function fakeDriver(root: string, env: Record<string, string> = {}) {
  const kernel = path.join(root, 'vmlinux');
  const rootfs = path.join(root, 'rootfs.ext4');
  if (!existsSync(kernel)) writeFileSync(kernel, 'kernel stand-in');
  if (!existsSync(rootfs)) {
    writeFileSync(rootfs, 'rootfs stand-in');
    truncateSync(rootfs, 16 * 1024 * 1024);
  }
  return new FirecrackerDriver({ binary: FAKE_BINARY, kernel, rootfs, env, ...slow });
}

machineContract('firecracker over the fake', ({ root }) => fakeDriver(root), { forks: [3, 20], skip });

(skip ? test.skip : test)('boot and restore send exactly the expected API calls, in order', async () => {
  const a = makeAssets();
  const trace = path.join(a.root, 'trace.jsonl');
  const driver = fakeDriver(a.root, { IGNITION_FC_TRACE: trace });
  const m = await driver.boot(bootSpec(a.root, 'vm_t1', a.bundle));
  try {
    assert.equal(
      m.timings.map((t) => t.step),
      [
        'workspace',
        'disk',
        'spawn',
        'api-ready',
        'machine-config',
        'boot-source',
        'drives',
        'vsock',
        'entropy',
        'instance-start',
        'agent-health',
        'load-function',
      ],
    );
    const calls = readTrace(trace);
    assert.equal(
      calls.map((c) => `${c.method} ${c.path}`),
      ['GET /', 'PUT /machine-config', 'PUT /boot-source', 'PUT /drives/rootfs', 'PUT /vsock', 'PUT /entropy', 'PUT /actions'],
    );
    assert.equal(calls[3].body, { drive_id: 'rootfs', path_on_host: 'rootfs.ext4', is_root_device: true, is_read_only: false });
    assert.equal(calls[4].body, { guest_cid: 3, uds_path: 'v.sock' });
    assert.equal(calls[1].body, { vcpu_count: 1, mem_size_mib: 64, smt: false });
    // Spawned by the launcher, not by this process (a fork of the daemon stalls its event loop),
    // as the leader of a session and process group of its own.
    const vmm = readStat(m.pid!)!;
    assert.is(vmm.ppid, driver.options.spawner.pid, "the launcher is the VMM's parent");
    assert.is.not(vmm.ppid, process.pid);
    assert.is(vmm.session, m.pid, 'a session of its own');

    const snapDir = path.join(a.root, 'snap');
    const files = await m.snapshot(snapDir);
    const memSize = statSync(files.memory).size;
    assert.is(memSize, 64 * 1024 * 1024, 'memory file is guest-sized');
    rmSync(trace);
    const clone = await driver.restore({ ...bootSpec(a.root, 'vm_t2'), snapshot: files });
    assert.equal(
      clone.timings.map((t) => t.step),
      ['check-snapshot', 'workspace', 'disk', 'spawn', 'api-ready', 'stage-snapshot', 'snapshot-load', 'agent-health'],
    );
    const restoreCalls = readTrace(trace);
    assert.equal(
      restoreCalls.map((c) => `${c.method} ${c.path}`),
      ['GET /', 'PUT /snapshot/load'],
    );
    assert.equal(restoreCalls[1].body, {
      snapshot_path: files.state,
      mem_backend: { backend_type: 'File', backend_path: files.memory },
      track_dirty_pages: false,
      resume_vm: true,
      vsock_override: { uds_path: 'v.sock' },
    });
    // The memory file is mapped from where it is, never copied into the clone's workspace.
    assert.not.ok(existsSync(path.join(clone.workspace, 'memory.snap')));
    assert.ok(existsSync(path.join(clone.workspace, 'rootfs.ext4')), 'disk cloned into the workspace');
    assert.ok(readFileSync(path.join(m.workspace, 'firecracker.log'), 'utf8').includes('Running Firecracker'), 'log captured per VM');
    await clone.destroy();
  } finally {
    await m.destroy();
    await driver.close();
    assert.equal(await settleProcesses(a.root), []);
    a.cleanup();
  }
});

(skip ? test.skip : test)('vsock: CONNECT must arrive in one write, as Firecracker reads it', async () => {
  const a = makeAssets();
  const driver = fakeDriver(a.root);
  const m = await driver.boot(bootSpec(a.root, 'vm_vs1', a.bundle));
  try {
    const split = await rawExchange(m.vsockPath, ['CONN', 'ECT 52\n'], undefined, 2000);
    assert.not.match(split, /^OK/, 'a split command is dropped without OK');
    const whole = await rawExchange(m.vsockPath, 'CONNECT 52\nGET /v1/health HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', undefined, 5000);
    assert.match(whole, /^OK \d+\nHTTP\/1\.1 200 /);
  } finally {
    await m.destroy();
    assert.equal(await settleProcesses(a.root), []);
    a.cleanup();
  }
});

(skip ? test.skip : test)('fork with a caller-given snapshot directory keeps it; a driver-made one goes with the last clone', async () => {
  const a = makeAssets();
  const driver = fakeDriver(a.root);
  const m = await driver.boot(bootSpec(a.root, 'vm_k1', a.bundle));
  try {
    const kept = path.join(a.root, 'kept');
    const r1 = await driver.fork(m, { count: 1, snapshotDir: kept });
    await r1.clones[0].destroy();
    assert.ok(existsSync(r1.snapshot.memory), 'caller-owned snapshot stays');
    const r2 = await driver.fork(m, { count: 2 });
    const dir = path.dirname(r2.snapshot.memory);
    await r2.clones[0].destroy();
    assert.ok(existsSync(dir), 'still used by the second clone');
    await r2.clones[1].destroy();
    assert.not.ok(existsSync(dir), 'removed with the last clone');
  } finally {
    await m.destroy();
    assert.equal(await settleProcesses(a.root), []);
    a.cleanup();
  }
});

test.run();
