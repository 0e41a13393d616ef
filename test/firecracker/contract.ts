/**
 * The Machine port's behaviour suite, written once and run against every driver: the Firecracker
 * driver over the fake (always), over real Firecracker (test/live, when KVM is there), and the
 * process driver for what its capabilities claim. Each test reads `driver.capabilities` and skips,
 * saying why, what the driver honestly does not support.
 *
 *   machineContract('firecracker (fake)', ({ root }) => new FirecrackerDriver({...}), { bundle });
 *
 * The suite creates its own temp root (passed to the factory), boots with a tiny function bundle,
 * and checks through the agent over vsock: health, invocation, pause/resume, snapshot → restore,
 * fork into N healthy clones, idempotent stop/destroy, and that no process or workspace is left.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BootSpec, Machine, MachineDriver, SnapshotFiles } from '../../platform/vmm/port.ts';
import { agentCall, settleProcesses } from './support.ts';

export interface ContractContext {
  /** A temp directory the suite owns and removes. */
  root: string;
}

export interface ContractOptions {
  /** Base image files for boot (`kernel`, `rootfs`); the driver's defaults otherwise. */
  image?: SnapshotFiles;
  memoryMiB?: number;
  vcpus?: number;
  /** Fork sizes to test when the driver can fork (default [3]). */
  forks?: number[];
  /** Skip the whole suite with this reason (printed). */
  skip?: string | null;
  /** Check that no process runs with its cwd under the suite's root after each destroy (default true). */
  leakCheck?: boolean;
}

/** Drivers that can fork expose this beyond the port (the Firecracker driver does). */
interface Forking {
  fork(source: Machine, options: { count: number }): Promise<{ snapshot: SnapshotFiles; clones: Machine[] }>;
}

const BUNDLE = 'let n = 0;\nexport default { fetch(req) { n++; return new Response(`hello ${new URL(req.url).pathname} ${n}`); } };\n';

/** Registers and runs the contract suite for one driver. */
export function machineContract(name: string, makeDriver: (ctx: ContractContext) => MachineDriver | Promise<MachineDriver>, opts: ContractOptions = {}): void {
  const s = suite(`machine contract: ${name}`);
  const ctx = {} as ContractContext & { driver: MachineDriver; bundle: string; n: number };
  const leakCheck = opts.leakCheck ?? true;
  if (opts.skip) {
    console.log(`SKIP machine contract ${name}: ${opts.skip}`);
    s.skip('skipped', () => undefined);
    s.run();
    return;
  }

  s.before(async () => {
    ctx.root = mkdtempSync(path.join(os.tmpdir(), 'mc-'));
    ctx.bundle = path.join(ctx.root, 'hello.mjs');
    writeFileSync(ctx.bundle, BUNDLE);
    ctx.n = 0;
    ctx.driver = await makeDriver({ root: ctx.root });
  });
  s.after(async () => {
    await ctx.driver?.close();
    if (leakCheck) assert.equal(await settleProcesses(ctx.root), [], 'processes left running under the suite root');
    rmSync(ctx.root, { recursive: true, force: true });
  });

  const spec = (extra: Partial<BootSpec> = {}): BootSpec => {
    const id = `vm_c${++ctx.n}`;
    return {
      id,
      workspace: path.join(ctx.root, 'ws', id),
      memoryMiB: opts.memoryMiB ?? 128,
      vcpus: opts.vcpus ?? 1,
      image: opts.image,
      bundle: ctx.bundle,
      env: {},
      network: false,
      labels: { suite: 'contract' },
      ...extra,
    };
  };

  async function expectHealthy(m: Machine) {
    const health = await agentCall(m, 'GET', '/v1/health');
    assert.is(health.status, 200);
    const body = JSON.parse(health.text);
    assert.is(body.status, 'ok');
    assert.ok(body.ready, 'agent reports ready');
    const hello = await agentCall(m, 'GET', '/v1/invoke/ping');
    assert.is(hello.status, 200);
    assert.match(hello.text, /^hello \/ping \d+$/);
    return body;
  }

  async function expectGone(m: Machine) {
    await m.destroy();
    assert.not.ok(existsSync(m.workspace), `workspace ${m.workspace} removed`);
    if (leakCheck) assert.equal(await settleProcesses(m.workspace), [], 'no process left in the workspace');
  }

  s('boot: agent healthy over vsock, function answers, steps named and timed', async () => {
    const m = await ctx.driver.boot(spec());
    try {
      assert.is(m.state, 'running');
      assert.ok(m.pid && m.pid > 0, 'pid known');
      assert.ok(m.timings.length > 0, 'timings recorded');
      for (const t of m.timings) {
        assert.type(t.step, 'string');
        assert.ok(t.ms >= 0);
      }
      await expectHealthy(m);
    } finally {
      await expectGone(m);
    }
  });

  s('pause and resume: the guest answers again after resume', async () => {
    if (!ctx.driver.capabilities.pause) return console.log(`SKIP ${name} pause: driver reports pause unsupported`);
    const m = await ctx.driver.boot(spec());
    try {
      await m.pause();
      assert.is(m.state, 'paused');
      await m.pause(); // idempotent
      await m.resume();
      assert.is(m.state, 'running');
      await expectHealthy(m);
    } finally {
      await expectGone(m);
    }
  });

  s('snapshot then restore: the clone is healthy and keeps the function', async () => {
    if (ctx.driver.capabilities.snapshot !== 'memory') return console.log(`SKIP ${name} memory snapshot: driver snapshots artifacts only`);
    const m = await ctx.driver.boot(spec());
    const dir = path.join(ctx.root, `snap-${m.id}`);
    let clone: Machine | undefined;
    try {
      await expectHealthy(m);
      const files = await m.snapshot(dir);
      assert.is(m.state, 'running', 'source resumed after snapshot');
      for (const f of Object.values(files)) assert.ok(existsSync(f), `${f} written`);
      await expectHealthy(m);
      clone = await ctx.driver.restore({ ...spec(), snapshot: files });
      assert.is(clone.state, 'running');
      assert.ok(clone.timings.some((t) => /load|restore/.test(t.step)), 'restore steps recorded');
      await expectHealthy(clone);
    } finally {
      if (clone) await expectGone(clone);
      await expectGone(m);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const count of opts.forks ?? [3]) {
    s(`fork into ${count} concurrent clones: all healthy, source keeps running`, async () => {
      const forking = ctx.driver as MachineDriver & Partial<Forking>;
      if (!ctx.driver.capabilities.fork || typeof forking.fork !== 'function') {
        return console.log(`SKIP ${name} fork: driver reports live fork unsupported`);
      }
      const m = await ctx.driver.boot(spec());
      let clones: Machine[] = [];
      try {
        const result = await forking.fork(m, { count });
        clones = result.clones;
        assert.is(clones.length, count);
        assert.is(m.state, 'running');
        assert.is(new Set(clones.map((c) => c.id)).size, count, 'clone ids unique');
        assert.is(new Set(clones.map((c) => c.workspace)).size, count, 'one workspace per clone');
        await Promise.all(clones.map((c) => expectHealthy(c)));
        await expectHealthy(m);
      } finally {
        await Promise.all(clones.map((c) => expectGone(c)));
        await expectGone(m);
      }
    });
  }

  s('stop is idempotent and concurrent-safe; destroy after stop removes the workspace', async () => {
    const m = await ctx.driver.boot(spec());
    await Promise.all([m.stop({ graceMs: 500 }), m.stop({ graceMs: 500 })]);
    assert.is(m.state, 'stopped');
    const exit = await m.exited;
    assert.type(exit, 'object');
    await m.stop();
    await expectGone(m);
    await m.destroy(); // idempotent
  });

  s('operations on a stopped machine fail with a typed error', async () => {
    const m = await ctx.driver.boot(spec());
    await m.stop({ graceMs: 0 });
    try {
      await m.pause();
      assert.unreachable('pause of a stopped machine must fail');
    } catch (err) {
      assert.instance(err, Error);
      assert.type((err as { code?: string }).code, 'string');
    } finally {
      await expectGone(m);
    }
  });

  s.run();
}
