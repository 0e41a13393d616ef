/**
 * The process driver's CPU policy (platform/vmm/process/cpu-policy.ts): which policy a host gets,
 * what each does to a sandbox's cgroup, and on a host with cgroups for sandboxes the real thing: a
 * machine booted with `priority: 'background'` is in an idle cgroup, with its whole tree, until
 * `setPriority('normal')`; one booted without a priority never is. Read from the cgroup files; no
 * timing is asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { deepChildPids } from '../../platform/vmm/process/procfs.ts';
import { cpuPolicyFor, IDLE_GROUPS, PLAIN } from '../../platform/vmm/process/cpu-policy.ts';
import type { SandboxCgroup } from '../../platform/vmm/process/cgroups.ts';
import type { Machine } from '../../platform/vmm/port.ts';
import { ROOT } from '../support/daemon.ts';
import { rerun } from '../support/needs.ts';
import { lack, skipUnless } from '../support/skip.ts';
import { cpuIdle } from '../support/procstat.ts';

test('cpuPolicyFor: idle groups where sandboxes have cgroups with cpu.idle, plain elsewhere', () => {
  assert.is(cpuPolicyFor({ idle: true }), IDLE_GROUPS);
  assert.is(cpuPolicyFor({ idle: false }), PLAIN);
  assert.is(cpuPolicyFor(undefined), PLAIN, 'no cgroups at all');
});

test('IDLE_GROUPS makes a background group idle and a normal one not; PLAIN touches nothing', () => {
  const calls: boolean[] = [];
  const group = { setIdle: (idle: boolean) => calls.push(idle) } as unknown as SandboxCgroup;
  IDLE_GROUPS.apply(group, 'background');
  IDLE_GROUPS.apply(group, 'normal');
  IDLE_GROUPS.apply(undefined, 'background');
  PLAIN.apply(group, 'background');
  assert.equal(calls, [true, false]);
});

const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-cpu-policy-'));
const bundle = path.join(dir, 'function.mjs');
writeFileSync(bundle, 'export default { fetch: () => new Response("ok") };\n');
const driver = new ProcessDriver({ agentPath: path.join(ROOT, 'dist', 'agent.mjs'), sandbox: 'auto' });

test('the driver reports its policy in its isolation report', () => {
  assert.is(driver.isolation.limits.idleBackground, driver.cpuPolicy.name === 'idle');
  assert.is(driver.cpuPolicy.name === 'idle', driver.isolation.layers.cgroup && driver.cpuPolicy === IDLE_GROUPS);
});

let n = 0;
function boot(priority?: 'background') {
  const id = `vm_prio${++n}`;
  return driver.boot({ id, workspace: path.join(dir, id), bundle, env: {}, network: false, memoryMiB: 128, vcpus: 1, labels: {}, priority });
}

// The cgroup checks apart, so a host without cgroups for sandboxes shows them as skipped.
// Root makes cgroups on v1 always and on v2 inside a delegated scope; others need root.
const cgroupLack =
  driver.cpuPolicy.name === 'idle'
    ? null
    : lack(
        'the process driver has no idle CPU policy here: no cgroup per sandbox, or no cpu.idle (ignition doctor says why)',
        process.getuid?.() === 0 ? `systemd-run --scope -p Delegate=yes ${rerun()}` : rerun(true),
      );
skipUnless(cgroupLack)("a background machine's cgroup is idle until raised; one booted without a priority never is", async () => {
  const tree = (m: Machine) => [m.pid!, ...deepChildPids(m.pid!)];
  const m = await boot('background');
  try {
    assert.ok(
      tree(m).every((pid) => cpuIdle(pid) === '1'),
      'the whole tree is in its cgroup, with cpu.idle set',
    );
    m.setPriority!('normal');
    assert.ok(
      tree(m).every((pid) => cpuIdle(pid) === '0'),
      "raised, the tree's cgroup is no longer idle",
    );
    assert.is(m.state, 'running', 'it still serves');
  } finally {
    await m.destroy();
  }
  const plain = await boot();
  try {
    assert.ok(
      tree(plain).every((pid) => cpuIdle(pid) === '0'),
      'its cgroup is not idle',
    );
  } finally {
    await plain.destroy();
  }
});

test.after(async () => {
  await driver.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
