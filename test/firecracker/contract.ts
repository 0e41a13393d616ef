/**
 * The Machine port's behaviour suite, written once and run against every driver: the Firecracker
 * driver over the fake (always), over real Firecracker (test/live, when KVM is there), and the
 * process driver for what its capabilities claim. What the driver honestly does not support
 * (its `capabilities`) is registered as skipped, with the reason, so it counts as a skip and not
 * as a pass: the driver is therefore made when the suite is registered, not in a hook.
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
import { IgnitionError } from '../../platform/errors.ts';
import type { BootSpec, Machine, MachineDriver, SnapshotFiles } from '../../platform/vmm/port.ts';
import { rerun } from '../support/needs.ts';
import { lack, skipUnless, type Lack } from '../support/skip.ts';
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
  /** Skip the whole suite with this reason (printed, with the command that runs the file again). */
  skip?: string | null;
  /** Check that no process runs with its cwd under the suite's root after each destroy (default true). */
  leakCheck?: boolean;
}

/** Drivers that can fork expose this beyond the port (the Firecracker driver does). */
interface Forking {
  fork(source: Machine, options: { count: number }): Promise<{ snapshot: SnapshotFiles; clones: Machine[] }>;
}

const BUNDLE = 'let n = 0;\nexport default { fetch(req) { n++; return new Response(`hello ${new URL(req.url).pathname} ${n}`); } };\n';

/**
 * Registers and runs the contract suite for one driver. `makeDriver` is called at once (not in a
 * hook): which tests run depends on the capabilities of the driver it returns.
 */
export function machineContract(name: string, makeDriver: (ctx: ContractContext) => MachineDriver, opts: ContractOptions = {}): void {
  const s = suite(`machine contract: ${name}`);
  const ctx = {} as ContractContext & { driver: MachineDriver; bundle: string; n: number };
  const leakCheck = opts.leakCheck ?? true;
  if (opts.skip) {
    const it = skipUnless(lack(opts.skip, rerun()), s);
    for (const test of testNames(opts)) it(test, () => undefined);
    s.run();
    return;
  }

  ctx.root = mkdtempSync(path.join(os.tmpdir(), 'mc-'));
  ctx.bundle = path.join(ctx.root, 'hello.mjs');
  writeFileSync(ctx.bundle, BUNDLE);
  ctx.n = 0;
  try {
    ctx.driver = makeDriver({ root: ctx.root });
  } catch (err) {
    rmSync(ctx.root, { recursive: true, force: true });
    s('the driver is made', () => {
      throw err;
    });
    s.run();
    return;
  }
  s.after(async () => {
    await ctx.driver.close();
    if (leakCheck) assert.equal(await settleProcesses(ctx.root), [], 'processes left running under the suite root');
    rmSync(ctx.root, { recursive: true, force: true });
  });
  const caps = ctx.driver.capabilities;
  // Nothing makes this driver do it: the command is the contract over a driver that does.
  const unsupported = (what: string): Lack =>
    lack(
      `the ${ctx.driver.name} driver reports ${what} unsupported (its capabilities); the Firecracker driver runs this test over the fake`,
      'node --import tsx test/firecracker/driver.test.ts',
    );
  const forking = ctx.driver as MachineDriver & Partial<Forking>;
  const canFork = caps.fork && typeof forking.fork === 'function';

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

  s(TESTS.boot, async () => {
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

  skipUnless(caps.pause ? null : unsupported('pause'), s)(TESTS.pause, async () => {
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

  skipUnless(caps.snapshot === 'memory' ? null : unsupported('memory snapshots'), s)(TESTS.snapshot, async () => {
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
      assert.ok(
        clone.timings.some((t) => /load|restore/.test(t.step)),
        'restore steps recorded',
      );
      await expectHealthy(clone);
    } finally {
      if (clone) await expectGone(clone);
      await expectGone(m);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const count of opts.forks ?? [3]) {
    skipUnless(canFork ? null : unsupported('live fork'), s)(TESTS.fork(count), async () => {
      const m = await ctx.driver.boot(spec());
      let clones: Machine[] = [];
      try {
        const result = await forking.fork!(m, { count });
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

  s(TESTS.stop, async () => {
    const m = await ctx.driver.boot(spec());
    await Promise.all([m.stop({ graceMs: 500 }), m.stop({ graceMs: 500 })]);
    assert.is(m.state, 'stopped');
    const exit = await m.exited;
    assert.type(exit, 'object');
    await m.stop();
    await expectGone(m);
    await m.destroy(); // idempotent
  });

  s(TESTS.stopped, async () => {
    const m = await ctx.driver.boot(spec());
    await m.stop({ graceMs: 0 });
    try {
      // Caught apart from the assertions: a catch around them would take uvu's own Assertion
      // (an Error with a string code) for the driver's error, and pass when pause succeeds.
      const err = await m.pause().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err !== undefined, 'pause of a stopped machine must fail');
      assert.instance(err, IgnitionError);
      assert.type((err as IgnitionError).code, 'string');
    } finally {
      await expectGone(m);
    }
  });

  s.run();
}

/** Names of the tests, shared by the real suite and the skipped one. */
const TESTS = {
  boot: 'boot: agent healthy over vsock, function answers, steps named and timed',
  pause: 'pause and resume: the guest answers again after resume',
  snapshot: 'snapshot then restore: the clone is healthy and keeps the function',
  fork: (count: number) => `fork into ${count} concurrent clones: all healthy, source keeps running`,
  stop: 'stop is idempotent and concurrent-safe; destroy after stop removes the workspace',
  stopped: 'operations on a stopped machine fail with a typed error',
};

/** Every test the suite registers, so a suite skipped as a whole counts and names each one. */
function testNames(opts: ContractOptions): string[] {
  return [TESTS.boot, TESTS.pause, TESTS.snapshot, ...(opts.forks ?? [3]).map(TESTS.fork), TESTS.stop, TESTS.stopped];
}
