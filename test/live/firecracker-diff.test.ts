/**
 * Incremental snapshots on the real Firecracker: guest memory written after a Full snapshot must
 * reach a clone restored from the Diff that follows it. The function keeps a counter in guest
 * memory; the clone must continue it from where the source was at the Diff, not at the Full (the
 * fake cannot show this: its guest keeps no memory across a restore). Skips without KVM and assets.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirecrackerDriver } from '../../platform/vmm/firecracker/driver.ts';
import type { FirecrackerMachine } from '../../platform/vmm/firecracker/machine.ts';
import { reportSkip } from '../support/needs.ts';
import { agentCall, settleProcesses } from '../firecracker/support.ts';
import { liveAssets, liveSkipReason } from './live-assets.ts';

const skip = liveSkipReason();
reportSkip('test/live/firecracker-diff.test.ts', skip);
const t = skip ? test.skip : test;

const COUNTER = 'let n = 0;\nexport default { fetch() { n++; return new Response(String(n)); } };\n';

async function count(m: FirecrackerMachine): Promise<number> {
  const res = await agentCall(m, 'GET', '/v1/invoke/');
  assert.is(res.status, 200, res.text);
  return Number(res.text);
}

t('a clone of a Diff snapshot sees the memory written after the Full one', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fcd-live-'));
  const bundle = path.join(root, 'counter.mjs');
  writeFileSync(bundle, COUNTER);
  const a = liveAssets();
  const driver = new FirecrackerDriver({
    binary: a.binary,
    kernel: a.kernel,
    rootfs: a.rootfs,
    workspacesDir: path.join(root, 'ws'),
    diffSnapshots: 'on',
    bootAgentTimeoutMs: 60_000,
  });
  const spec = (id: string) => ({
    id,
    workspace: path.join(root, 'ws', id),
    memoryMiB: 256,
    vcpus: 1,
    env: {},
    network: false,
    labels: {},
    incrementalSnapshots: true,
  });
  const machines: FirecrackerMachine[] = [];
  try {
    const m = await driver.boot({ ...spec('vm_dl1'), bundle });
    machines.push(m);
    for (let i = 1; i <= 3; i++) assert.is(await count(m), i);
    await m.snapshot(path.join(root, 'full'));
    assert.equal(m.lastSnapshot, { type: 'Full' });
    assert.is(await count(m), 4);
    assert.is(await count(m), 5);
    const diff = await m.snapshot(path.join(root, 'diff'));
    assert.is(m.lastSnapshot?.type, 'Diff');
    const clone = await driver.restore({ ...spec('vm_dl2'), snapshot: diff });
    machines.push(clone);
    assert.is(await count(clone), 6, 'the clone continues from the Diff, not from the Full snapshot');
    // And a Diff of the clone, on the memory it was restored from, restores too.
    assert.is(await count(clone), 7);
    const again = await clone.snapshot(path.join(root, 'diff2'));
    assert.is(clone.lastSnapshot?.type, 'Diff');
    const second = await driver.restore({ ...spec('vm_dl3'), snapshot: again });
    machines.push(second);
    assert.is(await count(second), 8);
  } finally {
    await Promise.allSettled(machines.map((m) => m.destroy()));
    await driver.close();
    assert.equal(await settleProcesses(root), []);
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
