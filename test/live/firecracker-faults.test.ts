/**
 * Faults against the real Firecracker: a corrupt snapshot state makes the load fail and the real
 * process exit (we prove our cleanup copes), a stale API socket is removed before spawn, and a
 * snapshot of a stopped VM is refused. Nothing is left behind. Skips without KVM and assets.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IgnitionError } from '../../platform/errors.ts';
import { FirecrackerDriver } from '../../platform/vmm/firecracker/driver.ts';
import { reportSkip } from '../support/needs.ts';
import { settleProcesses, staleSocket } from '../firecracker/support.ts';
import { liveAssets, liveSkipReason } from './live-assets.ts';

const skip = liveSkipReason();
reportSkip('test/live/firecracker-faults.test.ts', skip);
const t = skip ? test.skip : test;

const spec = (root: string, id: string) => ({ id, workspace: path.join(root, 'ws', id), memoryMiB: 256, vcpus: 1, env: {}, network: false, labels: {} });

t('corrupt state: the load fails, Firecracker exits, nothing is left; a stale socket does not block boot', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fcl-'));
  const a = liveAssets();
  const driver = new FirecrackerDriver({ binary: a.binary, kernel: a.kernel, rootfs: a.rootfs, bootAgentTimeoutMs: 60_000 });
  try {
    // A stale API socket left by a crashed run must be removed by the launcher.
    const ws = path.join(root, 'ws', 'vm_l1');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(ws, { recursive: true });
    // A socket file nobody listens on (closing an in-process server would unlink it).
    staleSocket(path.join(ws, 'api.sock'));
    const m = await driver.boot(spec(root, 'vm_l1'));
    const files = await m.snapshot(path.join(root, 'snap'));
    await m.destroy();
    const corrupt = path.join(root, 'corrupt.state');
    writeFileSync(corrupt, Buffer.alloc(4096, 7));
    try {
      await driver.restore({ ...spec(root, 'vm_l2'), snapshot: { ...files, state: corrupt } });
      assert.unreachable('a corrupt state must not load');
    } catch (err) {
      assert.instance(err, IgnitionError);
      assert.is((err as IgnitionError).data.step, 'snapshot-load');
    }
    assert.not.ok(existsSync(path.join(root, 'ws', 'vm_l2')));
    try {
      await m.snapshot(path.join(root, 'snap2'));
      assert.unreachable();
    } catch (err) {
      assert.is((err as IgnitionError).code, 'fc_invalid_state');
    }
  } finally {
    await driver.close();
    assert.equal(await settleProcesses(root), []);
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
