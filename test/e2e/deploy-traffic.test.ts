/**
 * Deploys next to live traffic, through the real CLI and daemon. Nothing here is timed.
 *
 * - While the daemon serves traffic, a deploy's build machine runs at background CPU priority and
 *   the machines serving traffic do not; once the new version serves (the build machine adopted as
 *   its first instance), it is back at normal priority. With no traffic the build runs at normal
 *   priority (nothing to protect). The build machine is the daemon's spare sandbox, adopted
 *   (platform/vmm/process/spares.ts): it takes the deploy's priority. The new version's warmup() is held by a gate file
 *   (test/fixtures/functions/gated-warmup), so the deploy is looked at while it is still building;
 *   priorities are read from the cgroup of each process (`cpu.idle`, platform/vmm/process/cpu-policy.ts)
 *   where the daemon's policy uses idle groups, and skipped with the reason where it is plain.
 * - Slow start: a deploy under traffic moves it gradually (both versions answer while the deploy
 *   runs), fails no request, and once it has answered only the new version serves.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { childPids, deepChildPids, threadIds } from '../../platform/vmm/process/procfs.ts';
import { cpuIdle, readStat } from '../support/procstat.ts';
import { findBwrap } from '../../platform/vmm/process/sandbox.ts';
import { SPARE_PREFIX } from '../../platform/vmm/process/spares.ts';
import { deploy, FIXTURES, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { rerun } from '../support/needs.ts';
import { lack, skipUnless } from '../support/skip.ts';

const FIXTURE = path.join(FIXTURES, 'gated-warmup');
// The daemon runs as this test's user: a driver made here has the policy the daemon's has.
const probe = new ProcessDriver({ agentPath: '/nonexistent', sandbox: 'auto' });
const idleLack =
  probe.cpuPolicy.name === 'idle'
    ? null
    : lack(
        "the daemon's CPU policy is plain here: no cgroup per sandbox, or no cpu.idle (ignition doctor says why)",
        process.getuid?.() === 0 ? `systemd-run --scope -p Delegate=yes ${rerun()}` : rerun(true),
      );
await probe.close();

let d: TestDaemon;
test.before(async () => {
  d = await startTestDaemon();
});
test.after(async () => {
  await d?.stop();
});

/** cpu.idle of the cgroup of every process of the sandbox `pid` (one value when they share it). */
function idle(pid: number): string[] {
  return [...new Set([pid, ...deepChildPids(pid)].map((p) => cpuIdle(p) ?? 'none'))];
}

/** A sandbox kept spare (platform/vmm/process/spares.ts): its working directory says so. */
function isSpare(pid: number): boolean {
  try {
    return path.basename(readlinkSync(`/proc/${pid}/cwd`)).startsWith(SPARE_PREFIX);
  } catch {
    return false;
  }
}

/** The daemon's sandboxes: children of its process launcher (platform/vmm/spawner.ts). */
function sandboxes(): number[] {
  return childPids(d.child.pid!).flatMap((p) => childPids(p));
}

async function instancePids(fn: string): Promise<number[]> {
  const res = await request(`${d.url}/v1/functions/${fn}/instances`, { headers: d.auth() });
  const body = (await res.body.json()) as { instances: Array<{ pid: number }> };
  return body.instances.map((i) => i.pid);
}

/** Starts a deploy of the gated fixture held in its warm-up; resolves with its build machine. */
async function heldDeploy(env: string, serving: number[]) {
  const deploying = d.cli(['deploy', FIXTURE, '--name', 'gated', '--env', env, '--json']);
  let build: number | undefined;
  for (let i = 0; i < 600 && !build; i++) {
    // The build machine: a sandbox of the daemon's that is not a serving instance (nor a spare not
    // yet adopted: the build adopts one, renaming its directory), once its agent runs.
    build = sandboxes().find(
      (p) =>
        !serving.includes(p) &&
        !isSpare(p) &&
        readStat(p) &&
        deepChildPids(p).length >= (findBwrap() ? 2 : 0) &&
        threadIds(deepChildPids(p)[0] ?? p).length > 1,
    );
    if (!build) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(build, 'the build machine appeared');
  const release = async () => {
    // The function looks in its working directory: the workspace without a sandbox, the
    // workspace's read-only fn/ (its /var/task) inside one.
    const workspace = readlinkSync(`/proc/${build}/cwd`);
    writeFileSync(path.join(workspace, findBwrap() ? 'fn' : '', 'release'), '');
    const r = await deploying;
    assert.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { version: { seq: number } };
  };
  return { build: build!, release };
}

skipUnless(idleLack)('with no traffic on the daemon, a deploy builds at normal priority', async () => {
  await deploy(d, FIXTURE, ['--name', 'gated']);
  const { build, release } = await heldDeploy('GATE=1', await instancePids('gated'));
  assert.equal(idle(build), ['0'], "the build sandbox's cgroup is not idle");
  assert.is((await release()).version.seq, 2);
});

skipUnless(idleLack)('under traffic the build machine runs at background priority, serving instances at normal; adopted, it is raised', async () => {
  const [serving] = await instancePids('gated');
  assert.ok(serving, 'the function has a serving instance');
  let stop = false;
  const traffic = (async () => {
    while (!stop) await (await request(`${d.url}/fn/gated/`)).body.dump();
  })();
  try {
    // Traffic is flowing (the pool took requests) before the deploy starts.
    await (await request(`${d.url}/fn/gated/`)).body.dump();
    const { build, release } = await heldDeploy('GATE=2', [serving]);
    // Its agent is loaded and waiting in warmup(): the deploy is in its build phase.
    assert.equal(idle(build), ['1'], 'the build sandbox, its whole tree, is in an idle cgroup');
    assert.equal(idle(serving), ['0'], 'the serving sandbox is not');

    assert.is((await release()).version.seq, 3);
    const pids = await instancePids('gated');
    assert.ok(pids.includes(build), `the build machine ${build} was adopted (instances: ${pids.join(', ')})`);
    assert.equal(idle(build), ['0'], 'the adopted build sandbox is raised');
  } finally {
    stop = true;
    await traffic;
  }
  const res = await request(`${d.url}/fn/gated/`);
  assert.is(await res.body.text(), 'gated');
});

test('under traffic, a deploy shifts gradually, fails no request, and answers once the shift is done', async () => {
  const echo = path.join(FIXTURES, 'echo');
  await deploy(d, echo, ['--env', 'V=1']);
  const seen: Array<{ v: string; status: number; afterAnswer: boolean }> = [];
  let answered = false;
  let stop = false;
  const loop = Promise.all(
    Array.from({ length: 4 }, async () => {
      while (!stop) {
        const startedAfter = answered;
        const res = await request(`${d.url}/fn/echo/`);
        const text = await res.body.text();
        seen.push({ v: res.statusCode === 200 ? JSON.parse(text).env.V : '', status: res.statusCode, afterAnswer: startedAfter });
      }
    }),
  );
  try {
    // Traffic is flowing before the deploy starts (the slow start applies to a busy alias).
    while (seen.length < 50) await new Promise((r) => setTimeout(r, 20));
    const r = await d.cli(['deploy', echo, '--env', 'V=2', '--json']);
    assert.is(r.code, 0, r.stderr);
    answered = true;
    const steps = (JSON.parse(r.stdout).timings ?? []).map((t: { step: string }) => t.step);
    assert.ok(steps.includes('slow-start'), `the deploy shifted traffic gradually (steps: ${steps.join(', ')})`);
    const mark = seen.length;
    while (seen.length < mark + 50) await new Promise((r) => setTimeout(r, 20));
  } finally {
    stop = true;
    await loop;
  }
  assert.equal(
    seen.filter((s) => s.status !== 200),
    [],
    'no request failed',
  );
  const before = seen.filter((s) => !s.afterAnswer);
  const firstNew = before.findIndex((s) => s.v === '2');
  assert.ok(firstNew !== -1, 'the new version served while the deploy was still running');
  assert.ok(
    before.slice(firstNew).some((s) => s.v === '1'),
    'the previous version kept serving part of the traffic during the shift',
  );
  assert.ok(
    seen.filter((s) => s.afterAnswer).every((s) => s.v === '2'),
    'after the deploy answered, only the new version serves',
  );
});

test.run();
