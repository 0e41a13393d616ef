/**
 * Bad input and faults of the Firecracker driver, against the fake: every failure is a typed error
 * naming the step that failed, and leaves nothing behind (no process with its cwd under the test
 * root, no workspace, no disk clone, no socket).
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IgnitionError } from '../../platform/errors.ts';
import { FirecrackerDriver, type FirecrackerDriverOptions } from '../../platform/vmm/firecracker/driver.ts';
import type { BootSpec } from '../../platform/vmm/port.ts';
import { reportSkip } from '../support/needs.ts';
import { AGENT_BUILT, AGENT_FIX, agentCall, FAKE_BINARY, makeAssets, settleProcesses, staleSocket, type TestAssets } from './support.ts';

const skip = AGENT_BUILT ? null : AGENT_FIX;
reportSkip('test/firecracker/faults.test.ts', skip);
const t = skip ? test.skip : test;

const slow = { startTimeoutMs: 60_000, bootAgentTimeoutMs: 60_000, restoreAgentTimeoutMs: 60_000, apiTimeoutMs: 30_000 };

function driver(a: TestAssets, extra: Partial<FirecrackerDriverOptions> = {}) {
  return new FirecrackerDriver({ binary: FAKE_BINARY, kernel: a.kernel, rootfs: a.rootfs, ...slow, ...extra });
}

function spec(a: TestAssets, id: string, extra: Partial<BootSpec> = {}): BootSpec {
  return { id, workspace: path.join(a.root, 'ws', id), memoryMiB: 64, vcpus: 1, env: {}, network: false, labels: {}, ...extra };
}

/** Runs `fn`, expects an IgnitionError, returns it. */
async function failure(fn: () => Promise<unknown>): Promise<IgnitionError> {
  try {
    await fn();
  } catch (err) {
    assert.instance(err, IgnitionError, String(err));
    return err as IgnitionError;
  }
  throw new Error('expected a failure');
}

/** Nothing of the VM is left: workspace gone, no process under the root. */
async function nothingLeft(a: TestAssets, id: string) {
  assert.not.ok(existsSync(path.join(a.root, 'ws', id)), `workspace of ${id} removed`);
  assert.equal(await settleProcesses(a.root), [], 'no process left');
}

async function withAssets(fn: (a: TestAssets) => Promise<void>) {
  const a = makeAssets('fcx-');
  try {
    await fn(a);
  } finally {
    assert.equal(await settleProcesses(a.root), [], 'no process left');
    a.cleanup();
  }
}

t('binary missing: fc_boot_failed at "spawn" caused by fc_binary_missing', () =>
  withAssets(async (a) => {
    const err = await failure(() => driver(a, { binary: path.join(a.root, 'no-firecracker') }).boot(spec(a, 'vm_f1')));
    assert.is(err.code, 'fc_boot_failed');
    assert.is(err.data.step, 'spawn');
    assert.is(err.data.code, 'fc_binary_missing');
    await nothingLeft(a, 'vm_f1');
  }),
);

t('socket never appears: fc_start_timeout at "api-ready", the process is killed', () =>
  withAssets(async (a) => {
    const d = driver(a, { startTimeoutMs: 1500, env: { IGNITION_FC_FAKE_FAULT: 'no-socket' } });
    const err = await failure(() => d.boot(spec(a, 'vm_f2')));
    assert.is(err.data.step, 'api-ready');
    assert.is(err.data.code, 'fc_start_timeout');
    await nothingLeft(a, 'vm_f2');
  }),
);

t('process dies mid-boot: the failing step is named, nothing is left', () =>
  withAssets(async (a) => {
    const d = driver(a, { env: { IGNITION_FC_FAKE_FAULT: 'exit-on-start' } });
    const err = await failure(() => d.boot(spec(a, 'vm_f3')));
    assert.is(err.code, 'fc_boot_failed');
    assert.is(err.data.step, 'instance-start');
    assert.is(err.data.code, 'fc_api_unreachable');
    await nothingLeft(a, 'vm_f3');
  }),
);

t('guest never becomes healthy: fc_agent_unhealthy at "agent-health"', () =>
  withAssets(async (a) => {
    const d = driver(a, { bootAgentTimeoutMs: 1500, env: { IGNITION_FC_FAKE_AGENT: path.join(a.root, 'no-agent.mjs') } });
    const err = await failure(() => d.boot(spec(a, 'vm_f4')));
    assert.is(err.data.step, 'agent-health');
    assert.is(err.data.code, 'fc_agent_unhealthy');
    await nothingLeft(a, 'vm_f4');
  }),
);

t('API call over the payload limit: refused at "boot-source" before sending', () =>
  withAssets(async (a) => {
    const err = await failure(() => driver(a, { bootArgs: `console=ttyS0 ${'x'.repeat(60_000)}` }).boot(spec(a, 'vm_f5')));
    assert.is(err.data.step, 'boot-source');
    assert.is(err.data.code, 'fc_payload_too_large');
    await nothingLeft(a, 'vm_f5');
  }),
);

t('missing kernel or rootfs: fc_config_invalid at "disk"', () =>
  withAssets(async (a) => {
    const err = await failure(() => driver(a, { kernel: path.join(a.root, 'nope') }).boot(spec(a, 'vm_f6')));
    assert.is(err.data.step, 'disk');
    assert.is(err.data.code, 'fc_config_invalid');
    await nothingLeft(a, 'vm_f6');
  }),
);

t('snapshot files: missing → "check-snapshot"; corrupt → load fails, Firecracker exits, nothing left', () =>
  withAssets(async (a) => {
    const d = driver(a);
    const m = await d.boot(spec(a, 'vm_s1', { bundle: a.bundle }));
    const files = await m.snapshot(path.join(a.root, 'snap'));
    await m.destroy();

    const missing = await failure(() => d.restore({ ...spec(a, 'vm_s2'), snapshot: { ...files, memory: path.join(a.root, 'gone.snap') } }));
    assert.is(missing.code, 'fc_restore_failed');
    assert.is(missing.data.step, 'check-snapshot');
    assert.is(missing.data.code, 'fc_snapshot_missing');
    await nothingLeft(a, 'vm_s2');

    const corrupt = path.join(a.root, 'corrupt.snap');
    writeFileSync(corrupt, '{"magic":"ignition-fake-firecracker-state","crc":"0","payload":"{}"}');
    const bad = await failure(() => d.restore({ ...spec(a, 'vm_s3'), snapshot: { ...files, state: corrupt } }));
    assert.is(bad.data.step, 'snapshot-load');
    assert.is(bad.data.code, 'fc_api_fault');
    assert.match(String(bad.data.message), /CRC mismatch/);
    await nothingLeft(a, 'vm_s3');

    // The intact snapshot still restores after those failures.
    const ok = await d.restore({ ...spec(a, 'vm_s4'), snapshot: files });
    assert.is(ok.state, 'running');
    await ok.destroy();
    await nothingLeft(a, 'vm_s4');
  }),
);

t('fork of a machine that is not running: fc_invalid_state, the source is untouched', () =>
  withAssets(async (a) => {
    const d = driver(a);
    const m = await d.boot(spec(a, 'vm_k1'));
    try {
      await m.pause();
      const paused = await failure(() => d.fork(m, { count: 2 }));
      assert.is(paused.code, 'fc_invalid_state');
      assert.is(paused.data.state, 'paused');
      await m.resume();
      await m.stop({ graceMs: 0 });
      const stopped = await failure(() => d.fork(m, { count: 2 }));
      assert.is(stopped.code, 'fc_invalid_state');
      assert.equal(readdirSync(path.join(a.root, 'ws')), ['vm_k1'], 'no clone workspace, no fork snapshot');
    } finally {
      await m.destroy();
    }
    await nothingLeft(a, 'vm_k1');
  }),
);

t('a VMM killed from outside: the machine turns failed; destroy still cleans up', () =>
  withAssets(async (a) => {
    const d = driver(a);
    const m = await d.boot(spec(a, 'vm_x1'));
    process.kill(m.pid!, 'SIGKILL');
    const exit = await m.exited;
    assert.is(exit.signal, 'SIGKILL');
    assert.is(m.state, 'failed');
    const err = await failure(() => m.snapshot(path.join(a.root, 'snap-x')));
    assert.is(err.code, 'fc_invalid_state');
    await m.destroy();
    await nothingLeft(a, 'vm_x1');
  }),
);

t('stale API and vsock sockets of a crashed VMM in the workspace do not block a boot', () =>
  withAssets(async (a) => {
    const ws = path.join(a.root, 'ws', 'vm_st1');
    mkdirSync(ws, { recursive: true });
    staleSocket(path.join(ws, 'api.sock'));
    staleSocket(path.join(ws, 'v.sock'));
    const m = await driver(a).boot(spec(a, 'vm_st1', { bundle: a.bundle }));
    try {
      assert.is(m.state, 'running');
      assert.is((await agentCall(m, 'GET', '/v1/health')).status, 200, 'the fresh vsock socket is the one bound');
    } finally {
      await m.destroy();
    }
    await nothingLeft(a, 'vm_st1');
  }),
);

t('graceful stop: SendCtrlAltDel ends the VMM without signals', () =>
  withAssets(async (a) => {
    const d = driver(a);
    const m = await d.boot(spec(a, 'vm_g1'));
    await m.stop({ graceMs: 30_000 });
    const exit = await m.exited;
    assert.equal(exit, { code: 0, signal: null });
    await m.destroy();
    await nothingLeft(a, 'vm_g1');
  }),
);

test.run();
