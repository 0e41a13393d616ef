/**
 * CPU priority of process-driver machines (platform/vmm/process/priority.ts): the pure parsers,
 * then real sandboxes. A machine booted with `priority: 'background'` runs every thread of every
 * process in its tree at BACKGROUND_NICE and, when the sandbox is a session of its own (bwrap) on a
 * kernel with autogroups, that session's autogroup too; `setPriority('normal')` brings all of it
 * back to 0; a machine booted without a priority is at 0 throughout. Read from /proc (the `nice`
 * field of each thread's stat, and /proc/<pid>/autogroup); no timing is asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { deepChildPids, deepMainThreadChildPids, parseStat, readStat, threadIds } from '../../platform/vmm/process/procfs.ts';
import { BACKGROUND_NICE, canRaiseNice, EXIT_NICE, hasAutogroups, hostCanRaiseNice, lowerForExit, parseAutogroupNice, readAutogroupNice } from '../../platform/vmm/process/priority.ts';
import type { Machine } from '../../platform/vmm/port.ts';
import { ROOT } from '../support/daemon.ts';
import { rerun } from '../support/needs.ts';
import { lack, skipUnless } from '../support/skip.ts';

test('deepMainThreadChildPids lists a tree of single-threaded processes as deepChildPids does', async () => {
  const { spawn } = await import('node:child_process');
  // sh forks two sleeps, one of them under a second sh.
  const root = spawn('/bin/sh', ['-c', 'sleep 30 & /bin/sh -c "sleep 30; true" & wait'], { stdio: 'ignore' });
  try {
    let all: number[] = [];
    for (let i = 0; i < 100 && all.length < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
      all = deepChildPids(root.pid!);
    }
    assert.is(all.length, 3, 'two sleeps and a shell');
    assert.equal(deepMainThreadChildPids(root.pid!).sort(), [...all].sort());
    assert.equal(deepMainThreadChildPids(999_999_999), [], 'a process that is gone has none');
  } finally {
    for (const p of [...deepChildPids(root.pid!), root.pid!]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

test('parseStat counts fields from the last parenthesis (names may hold spaces and parentheses)', () => {
  const line = '4242 (node (a) b) S 4200 4242 4242 0 -1 4194560 1 0 0 0 7 3 0 0 30 10 11 0 12345 0 0';
  assert.equal(parseStat(line), { pid: 4242, state: 'S', ppid: 4200, session: 4242, nice: 10 });
  assert.is(parseStat('7 (x) R 1 7 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0').session, 5);
});

test('canRaiseNice: CAP_SYS_NICE, or an RLIMIT_NICE that allows nice 0', () => {
  const limits = (v: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax nice priority         ${v}                    ${v}\n`;
  const status = (cap: string) => `Name:\tnode\nCapEff:\t${cap}\n`;
  assert.ok(canRaiseNice(status('000001ffffffffff'), limits('0')), 'root has CAP_SYS_NICE');
  assert.ok(canRaiseNice(status('0000000000800000'), limits('0')), 'bit 23 alone');
  assert.not.ok(canRaiseNice(status('0000000000000000'), limits('0')));
  assert.not.ok(canRaiseNice(status('0000000000000000'), limits('19')), 'nice 1 at best');
  assert.ok(canRaiseNice(status('0000000000000000'), limits('20')));
  assert.ok(canRaiseNice(status('0000000000000000'), limits('unlimited')));
});

test('parseAutogroupNice', () => {
  assert.is(parseAutogroupNice('/autogroup-6851 nice 10\n'), 10);
  assert.is(parseAutogroupNice('/autogroup-1 nice -5'), -5);
  assert.is(parseAutogroupNice('garbage'), undefined);
});

/** Starts `args` and waits until /proc shows it (and, for setsid, its new session). */
async function started(args: string[], sessionOf = -1) {
  const { spawn } = await import('node:child_process');
  const child = spawn(args[0], args.slice(1), { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const st = readStat(child.pid!);
    if (st && st.state !== 'Z' && (sessionOf === -1 || st.session !== sessionOf)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return child;
}

test('lowerForExit puts a process in the host\'s session at the lowest nice value, thread by thread', async () => {
  const own = readStat(process.pid)!.session;
  const child = await started(['/bin/sleep', '30']);
  try {
    assert.is(readStat(child.pid!)?.nice, 0);
    lowerForExit(child.pid!, { session: hasAutogroups(), hostSession: own });
    assert.is(readStat(child.pid!)?.nice, EXIT_NICE);
  } finally {
    child.kill('SIGKILL');
  }
});

const autogroupLack = hasAutogroups() ? null : lack('this kernel has no autogroups (CONFIG_SCHED_AUTOGROUP)', `on a kernel built with CONFIG_SCHED_AUTOGROUP=y: ${rerun()}`);
skipUnless(autogroupLack)('lowerForExit puts a sandbox session\'s autogroup at the lowest nice value', async () => {
  const own = readStat(process.pid)!.session;
  // setsid(1) makes the sleep a session (and so an autogroup) of its own, as the launcher does for a sandbox.
  const child = await started(['/usr/bin/setsid', '/bin/sleep', '30'], own);
  try {
    assert.is.not(readStat(child.pid!)?.session, own, 'a session of its own');
    assert.is(readAutogroupNice(child.pid!), 0);
    const ours = readAutogroupNice(process.pid);
    lowerForExit(child.pid!, { session: true, hostSession: own });
    assert.is(readAutogroupNice(child.pid!), EXIT_NICE, 'its autogroup');
    assert.is(readAutogroupNice(process.pid), ours, "the host session's autogroup is left alone");
  } finally {
    child.kill('SIGKILL');
  }
});

/** Every process of a machine's tree with the nice value of each of its threads. */
function treeNice(m: Machine): Array<{ pid: number; nice: number[] }> {
  const root = m.pid!;
  return [root, ...deepChildPids(root)].map((pid) => ({ pid, nice: threadIds(pid).map((tid) => readStat(pid, tid)?.nice ?? NaN) }));
}

/** The autogroup nice of the sandbox's own session (the processes not in this test's session). */
function sessionNice(m: Machine): number[] {
  const own = readStat(process.pid)!.session;
  return [m.pid!, ...deepChildPids(m.pid!)].filter((pid) => readStat(pid)!.session !== own).map((pid) => readAutogroupNice(pid)!);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-priority-'));
const bundle = path.join(dir, 'function.mjs');
writeFileSync(bundle, 'export default { fetch: () => new Response("ok") };\n');
const driver = new ProcessDriver({ agentPath: path.join(ROOT, 'dist', 'agent.mjs'), sandbox: 'auto' });
const threads = hostCanRaiseNice();
const session = driver.sandbox === 'bubblewrap' && hasAutogroups();
if (!threads) console.log('test/unit/process-priority.test.ts: thread nice values are not lowered here (no CAP_SYS_NICE and RLIMIT_NICE < 20: they could not be raised back); run as root to cover them');
if (!session) console.log(`test/unit/process-priority.test.ts: no session autogroup to check (sandbox ${driver.sandbox}, autogroups ${hasAutogroups() ? 'on' : 'absent'})`);

let n = 0;
function boot(priority?: 'background') {
  const id = `vm_prio${++n}`;
  return driver.boot({ id, workspace: path.join(dir, id), bundle, env: {}, network: false, memoryMiB: 128, vcpus: 1, labels: {}, priority });
}

test('a background machine runs its whole tree at the background priority until raised', async () => {
  const m = await boot('background');
  try {
    const tree = treeNice(m);
    assert.ok(tree.length >= (driver.sandbox === 'bubblewrap' ? 3 : 1), `the sandbox tree: ${JSON.stringify(tree)}`);
    assert.ok(tree.every((p) => p.nice.length > 0));
    const want = threads ? BACKGROUND_NICE : 0;
    for (const p of tree) assert.ok(p.nice.every((x) => x === want), `process ${p.pid}: thread nice ${p.nice.join(',')}, want ${want}`);
    if (session) {
      const groups = sessionNice(m);
      assert.ok(groups.length > 0, 'the agent runs in a session of its own');
      assert.equal([...new Set(groups)], [BACKGROUND_NICE]);
    }

    m.setPriority!('normal');
    for (const p of treeNice(m)) assert.ok(p.nice.every((x) => x === 0), `process ${p.pid} after raising: ${p.nice.join(',')}`);
    if (session) assert.equal([...new Set(sessionNice(m))], [0]);
    // It still serves.
    assert.is(m.state, 'running');
  } finally {
    await m.destroy();
  }
});

test('a machine booted without a priority is at normal priority throughout', async () => {
  const m = await boot();
  try {
    for (const p of treeNice(m)) assert.ok(p.nice.every((x) => x === 0), `process ${p.pid}: ${p.nice.join(',')}`);
    if (session) assert.equal([...new Set(sessionNice(m))], [0]);
  } finally {
    await m.destroy();
  }
});

// The cgroup checks apart, so a host without cgroups for sandboxes shows them as skipped.
// Root makes cgroups on v1 always and on v2 inside a delegated scope; others need root.
const cgroupLack = driver.isolation.layers.cgroup
  ? null
  : lack('the process driver makes no cgroup per sandbox here (ignition doctor says why)', process.getuid?.() === 0 ? `systemd-run --scope -p Delegate=yes ${rerun()}` : rerun(true));
skipUnless(cgroupLack)('a background machine\'s cgroup is idle until raised; one booted without a priority never is', async () => {
  const tree = (m: Machine) => [m.pid!, ...deepChildPids(m.pid!)];
  const m = await boot('background');
  try {
    assert.ok(tree(m).every((pid) => cpuIdle(pid) === '1'), 'the whole tree is in its cgroup, with cpu.idle set');
    m.setPriority!('normal');
    assert.ok(tree(m).every((pid) => cpuIdle(pid) === '0'), 'raised, the tree\'s cgroup is no longer idle');
  } finally {
    await m.destroy();
  }
  const plain = await boot();
  try {
    assert.ok(tree(plain).every((pid) => cpuIdle(pid) === '0'), 'its cgroup is not idle');
  } finally {
    await plain.destroy();
  }
});

/** cpu.idle of the cgroup `pid` is in (cgroup v1's cpu hierarchy, or v2's unified one). */
function cpuIdle(pid: number): string | undefined {
  for (const line of readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n')) {
    const [, controllers, rel] = line.split(':');
    if (rel === undefined) continue;
    const v1 = controllers.split(',').includes('cpu');
    if (!v1 && controllers !== '') continue;
    try {
      return readFileSync(path.join(v1 ? '/sys/fs/cgroup/cpu' : '/sys/fs/cgroup', rel, 'cpu.idle'), 'utf8').trim();
    } catch {
      // not this hierarchy
    }
  }
  return undefined;
}

test.after(async () => {
  await driver.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
