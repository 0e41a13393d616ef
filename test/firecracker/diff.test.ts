/**
 * Incremental (Diff) snapshots against the fake Firecracker, with `diffSnapshots: 'on'` so they
 * run on any filesystem (the base is then a sparse copy; test/firecracker/reflink.test.ts covers
 * the reflink path on a real XFS). What must hold: dirty page tracking only for machines that ask
 * for it; the first snapshot after a boot is Full, later ones are Diffs merged onto a clone of the
 * previous memory file, and every one of them restores the guest with its function; the base is
 * used only while it is the same file, and after a failed snapshot the next one is Full.
 */
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirecrackerDriver, type FirecrackerDriverOptions } from '../../platform/vmm/firecracker/driver.ts';
import { reflinkWorks } from '../../platform/vmm/firecracker/disk.ts';
import type { FirecrackerMachine } from '../../platform/vmm/firecracker/machine.ts';
import { readMemoryFile } from '../fakes/firecracker/snapshot-file.ts';
import { reportSkip } from '../support/needs.ts';
import { AGENT_BUILT, AGENT_FIX, agentCall, bootSpec, FAKE_BINARY, makeAssets, readTrace, settleProcesses, type TestAssets } from './support.ts';

const skip = AGENT_BUILT ? null : AGENT_FIX;
reportSkip('test/firecracker/diff.test.ts', skip);
const run = skip ? test.skip : test;

const slow = { startTimeoutMs: 60_000, bootAgentTimeoutMs: 60_000, restoreAgentTimeoutMs: 60_000, apiTimeoutMs: 30_000 };

function driverFor(a: TestAssets, trace: string, diffSnapshots: FirecrackerDriverOptions['diffSnapshots']) {
  return new FirecrackerDriver({
    binary: FAKE_BINARY,
    kernel: a.kernel,
    rootfs: a.rootfs,
    workspacesDir: path.join(a.root, 'ws'),
    env: { IGNITION_FC_TRACE: trace },
    diffSnapshots,
    ...slow,
  });
}

const calls = (trace: string, p: string) =>
  readTrace(trace)
    .filter((c) => c.path === p)
    .map((c) => c.body as Record<string, unknown>);

/**
 * A test's assets and trace file; every machine pushed to `machines` is destroyed afterwards, and
 * no process may be left under the test's root.
 */
async function withAssets(fn: (a: TestAssets, trace: string, machines: FirecrackerMachine[]) => Promise<void>) {
  const a = makeAssets('fcd-');
  const machines: FirecrackerMachine[] = [];
  try {
    await fn(a, path.join(a.root, 'trace.jsonl'), machines);
  } finally {
    await Promise.allSettled(machines.map((m) => m.destroy()));
    assert.equal(await settleProcesses(a.root), []);
    a.cleanup();
  }
}

async function servesFunction(m: FirecrackerMachine) {
  const res = await agentCall(m, 'GET', '/v1/invoke/ping');
  assert.is(res.status, 200, `${m.id} serves its function`);
  assert.match(res.text, /^hello \/ping \d+$/);
}

run('Full after boot, then Diffs merged onto the previous memory file; each restores the function', () =>
  withAssets(async (a, trace, machines) => {
    const driver = driverFor(a, trace, 'on');
    assert.ok(driver.incrementalSnapshots);
    const m = await driver.boot({ ...bootSpec(a.root, 'vm_d1', a.bundle), incrementalSnapshots: true });
    machines.push(m);
    assert.equal(calls(trace, '/machine-config')[0], { vcpu_count: 1, mem_size_mib: 64, smt: false, track_dirty_pages: true });

    const s1 = await m.snapshot(path.join(a.root, 's1'));
    assert.equal(m.lastSnapshot, { type: 'Full' }, 'nothing to build on after a boot');
    const s2 = await m.snapshot(path.join(a.root, 's2'));
    assert.equal(m.lastSnapshot, { type: 'Diff', base: s1.memory, copy: 'sparse' });
    assert.equal(
      calls(trace, '/snapshot/create').map((b) => b.snapshot_type),
      ['Full', 'Diff'],
    );
    // The guest wrote nothing since s1, so the Diff itself wrote nothing: the function in s2's
    // memory file is there only because s1's was cloned to it first.
    assert.ok(readMemoryFile(s2.memory, 64).bundle, 'the merged memory file holds the guest image');

    rmSync(trace);
    const c = await driver.restore({ ...bootSpec(a.root, 'vm_d2'), snapshot: s2, incrementalSnapshots: true });
    machines.push(c);
    assert.is(calls(trace, '/snapshot/load')[0].track_dirty_pages, true, 'tracking is not saved in a snapshot: sent on load');
    await servesFunction(c);
    // A restored VM builds its first Diff on the memory file it was restored from.
    const s3 = await c.snapshot(path.join(a.root, 's3'));
    assert.equal(c.lastSnapshot, { type: 'Diff', base: s2.memory, copy: 'sparse' });
    const c2 = await driver.restore({ ...bootSpec(a.root, 'vm_d3'), snapshot: s3 });
    machines.push(c2);
    await servesFunction(c2);

    // The base is gone: Full again; a registry copy handed over with rebase() is the next base.
    rmSync(path.join(a.root, 's2'), { recursive: true });
    rmSync(path.join(a.root, 's1'), { recursive: true });
    const s4 = await m.snapshot(path.join(a.root, 's4'));
    assert.equal(m.lastSnapshot, { type: 'Full' });
    const kept = path.join(a.root, 'registry-copy.snap');
    copyFileSync(s4.memory, kept);
    m.rebase({ ...s4, memory: kept });
    rmSync(path.join(a.root, 's4'), { recursive: true });
    await m.snapshot(path.join(a.root, 's5'));
    assert.equal(m.lastSnapshot, { type: 'Diff', base: kept, copy: 'sparse' });
    // A different file at the base's path is not the base.
    rmSync(kept);
    copyFileSync(path.join(a.root, 's5', 'memory.snap'), kept);
    await m.snapshot(path.join(a.root, 's6'));
    assert.equal(m.lastSnapshot?.type, 'Diff', 'the last snapshot (s5) is the base now');
    assert.is((m.lastSnapshot as { base: string }).base, path.join(a.root, 's5', 'memory.snap'));
  }),
);

run('after a failed snapshot the next one is Full; forks keep the tracking', () =>
  withAssets(async (a, trace, machines) => {
    const driver = driverFor(a, trace, 'on');
    const m = await driver.boot({ ...bootSpec(a.root, 'vm_e1', a.bundle), incrementalSnapshots: true });
    machines.push(m);
    await m.snapshot(path.join(a.root, 's1'));
    // A directory where the state file must go: Firecracker cannot write it.
    mkdirSync(path.join(a.root, 'bad', 'vmstate.snap'), { recursive: true });
    const err = await m.snapshot(path.join(a.root, 'bad')).catch((e) => e);
    assert.is(err.code, 'fc_snapshot_failed');
    assert.is(m.state, 'running', 'the source was resumed');
    await m.snapshot(path.join(a.root, 's2'));
    assert.equal(m.lastSnapshot, { type: 'Full' }, 'the dirty bitmap is unknown after a failure');

    rmSync(trace);
    const { clones } = await driver.fork(m, { count: 2 });
    machines.push(...clones);
    assert.equal(m.lastSnapshot?.type, 'Diff', 'the fork snapshot builds on s2');
    assert.equal(
      calls(trace, '/snapshot/load').map((b) => b.track_dirty_pages),
      [true, true],
    );
    for (const c of clones) await servesFunction(c);
  }),
);

run('no tracking unless the machine asks and the driver allows; auto follows reflink support', () =>
  withAssets(async (a, trace, machines) => {
    const off = driverFor(a, trace, 'off');
    assert.not.ok(off.incrementalSnapshots);
    assert.is(driverFor(a, trace, 'auto').incrementalSnapshots, reflinkWorks(path.join(a.root, 'ws')));
    const on = driverFor(a, trace, 'on');
    machines.push(await off.boot({ ...bootSpec(a.root, 'vm_n1', a.bundle), incrementalSnapshots: true }));
    machines.push(await on.boot(bootSpec(a.root, 'vm_n2', a.bundle)));
    for (const body of calls(trace, '/machine-config')) assert.is(body.track_dirty_pages, undefined);
    for (const m of machines) {
      await m.snapshot(path.join(a.root, `${m.id}-1`));
      await m.snapshot(path.join(a.root, `${m.id}-2`));
      assert.equal(m.lastSnapshot, { type: 'Full' }, `${m.id}: every snapshot Full`);
    }
    assert.equal(
      calls(trace, '/snapshot/create').map((b) => b.snapshot_type),
      ['Full', 'Full', 'Full', 'Full'],
    );
  }),
);

test.run();
