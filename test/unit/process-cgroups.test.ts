/**
 * Per-sandbox cgroups (platform/vmm/process/cgroups.ts).
 *
 * First, without any privilege: the cgroup v2 path against a fake cgroupfs, a directory tree with
 * the file names the kernel uses. That is a layout check only (what is written to which file, in
 * which order of steps), not a kernel test: no limit is enforced there, and where the kernel would
 * empty a directory the test deletes the files itself. Then open() on hosts where it cannot work.
 *
 * Then, as root on a host whose cgroups this process can use, the real thing: a child started
 * inside a group the way the launcher does it (spawner.ts: the parent moves itself into each of
 * `spawn[].procs`, spawns, and moves back), over the limits: killed by the OOM killer past its
 * memory limit, held to its pids limit by a fork loop, cpu.idle toggled, leftovers killed by
 * remove(), nothing left by close().
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { SandboxCgroups, type SandboxCgroup } from '../../platform/vmm/process/cgroups.ts';
import { readStat } from '../support/procstat.ts';
import { needs, reportSkip } from '../support/needs.ts';

const FILE = 'test/unit/process-cgroups.test.ts';
/** Above any pid_max (2^22): a pid no process can have. */
const NO_PID = 2 ** 22 + 1;

// ---- cgroup v2 on a fake tree: a layout check, not a kernel test ----

/** A fake v2 mount with the daemon in /daemon.scope, alone unless `others` are given. */
function fakeV2(opts: { controllers?: string; others?: number[] } = {}) {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ignition-fake-cgroup2-'));
  const put = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  };
  put('cgroup.controllers', 'cpuset cpu io memory hugetlb pids rdma misc\n');
  put('daemon.scope/cgroup.controllers', `${opts.controllers ?? 'cpu io memory pids'}\n`);
  put('daemon.scope/cgroup.procs', [process.pid, ...(opts.others ?? [])].map((p) => `${p}\n`).join(''));
  put('daemon.scope/cgroup.subtree_control', '');
  return { root, daemon: path.join(root, 'daemon.scope'), open: () => SandboxCgroups.open({ root, selfCgroup: '0::/daemon.scope\n' }) };
}

/** What the kernel does when a group empties: here, the fake directory's files go. */
function emptyFakeDir(dir: string) {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isFile()) rmSync(path.join(dir, e.name));
}

const read = (file: string) => readFileSync(file, 'utf8').trim();

test('v2 (fake tree): the daemon moves into a leaf, controllers are enabled, and a sandbox group gets its limits', async () => {
  const fake = fakeV2();
  const leaf = path.join(fake.daemon, 'ignition-daemon');
  // The kernel gives a child of a group with controllers enabled these files; the fake leaf has
  // them made in advance (open() reads which optional ones exist from the leaf).
  mkdirSync(leaf);
  for (const f of ['cgroup.procs', 'cgroup.kill', 'memory.swap.max', 'memory.oom.group', 'cpu.idle']) writeFileSync(path.join(leaf, f), '');
  // A driver group left by a dead daemon, with an (empty) sandbox group in it.
  const stale = path.join(fake.daemon, `ignition-${NO_PID}-1`);
  mkdirSync(path.join(stale, 'old-sandbox'), { recursive: true });
  try {
    const cg = fake.open();
    assert.ok(cg instanceof SandboxCgroups, JSON.stringify(cg));
    assert.equal(cg.support, { version: 'v2', memory: true, swap: true, pids: true, cpu: true, idle: true });
    assert.is(read(path.join(leaf, 'cgroup.procs')), String(process.pid), 'the daemon moved itself into its leaf first');
    assert.is(read(path.join(fake.daemon, 'cgroup.subtree_control')), '+memory +pids +cpu', 'then enabled the controllers for children');
    assert.is(existsSync(stale), false, "a dead daemon's group is removed");
    const parents = readdirSync(fake.daemon).filter((n) => n.startsWith(`ignition-${process.pid}-`));
    assert.is(parents.length, 1);
    const parent = path.join(fake.daemon, parents[0]);
    assert.is(read(path.join(parent, 'cgroup.subtree_control')), '+memory +pids +cpu', 'the driver group hands them on to the sandboxes');

    const g = cg.create('sbx-1', { memoryMiB: 64, pids: 16, cpuWeight: 250 });
    const dir = path.join(parent, 'sbx-1');
    assert.equal(g.spawn, [{ procs: path.join(dir, 'cgroup.procs'), home: path.join(leaf, 'cgroup.procs') }]);
    const values = Object.fromEntries(['memory.max', 'memory.swap.max', 'memory.oom.group', 'pids.max', 'cpu.weight'].map((f) => [f, read(path.join(dir, f))]));
    assert.equal(values, { 'memory.max': String(64 * 2 ** 20), 'memory.swap.max': '0', 'memory.oom.group': '1', 'pids.max': '16', 'cpu.weight': '250' });

    g.setIdle(true);
    assert.is(read(path.join(dir, 'cpu.idle')), '1');
    g.setLimits({ cpuWeight: 50, pids: 32 });
    assert.is(read(path.join(dir, 'pids.max')), '32');
    assert.is(read(path.join(dir, 'cpu.weight')), '250', 'an idle group takes no weight (the kernel says EINVAL)');
    g.setIdle(false);
    assert.is(read(path.join(dir, 'cpu.idle')), '0');
    assert.is(read(path.join(dir, 'cpu.weight')), '50', 'the weight is applied once the group is not idle');

    writeFileSync(path.join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 3\noom_group_kill 1\n');
    writeFileSync(path.join(dir, 'memory.current'), '1234\n');
    writeFileSync(path.join(dir, 'memory.peak'), '5678\n');
    assert.is(g.oomKills(), 3);
    assert.equal(g.memory(), { currentBytes: 1234, peakBytes: 5678 });

    // A process left in the group: remove() uses cgroup.kill (no pid is signalled), then waits
    // for the group to empty before its rmdir.
    writeFileSync(path.join(dir, 'cgroup.procs'), `${NO_PID}\n`);
    const removing = g.remove();
    assert.is(read(path.join(dir, 'cgroup.kill')), '1');
    emptyFakeDir(dir);
    await removing;
    assert.is(existsSync(dir), false);

    // A group never removed: close() takes it along, and moves the daemon back home.
    cg.create('sbx-2', { memoryMiB: 64, pids: 16, cpuWeight: 100 });
    emptyFakeDir(path.join(parent, 'sbx-2'));
    emptyFakeDir(parent);
    cg.close();
    assert.is(existsSync(parent), false);
    assert.is(read(path.join(fake.daemon, 'cgroup.subtree_control')), '-memory -pids -cpu', 'the controllers it enabled are disabled again');
    assert.is(read(path.join(fake.daemon, 'cgroup.procs')), String(process.pid), 'the daemon is back in its own group');
  } finally {
    rmSync(fake.root, { recursive: true, force: true });
  }
});

test('v2 (fake tree): open() explains a shared group, missing controllers and a missing 0:: line instead of throwing', () => {
  const shared = fakeV2({ others: [NO_PID] });
  const missing = fakeV2({ controllers: 'io' });
  try {
    const a = shared.open();
    assert.ok(!(a instanceof SandboxCgroups) && /other processes/.test(a.reason) && /Delegate=yes/.test(a.fix), JSON.stringify(a));
    assert.is(existsSync(path.join(shared.daemon, 'ignition-daemon')), false, 'the daemon did not move');
    assert.is(read(path.join(shared.daemon, 'cgroup.subtree_control')), '');
    const b = missing.open();
    assert.ok(!(b instanceof SandboxCgroups) && /none of the memory, pids and cpu/.test(b.reason) && b.fix.length > 0, JSON.stringify(b));
    const c = SandboxCgroups.open({ root: missing.root, selfCgroup: '1:name=systemd:/\n' });
    assert.ok(!(c instanceof SandboxCgroups) && /0:: line/.test(c.reason), JSON.stringify(c));
  } finally {
    rmSync(shared.root, { recursive: true, force: true });
    rmSync(missing.root, { recursive: true, force: true });
  }
});

test('open() on an absent hierarchy returns a reason and a fix', () => {
  const r = SandboxCgroups.open({ root: path.join(os.tmpdir(), `no-cgroups-${process.pid}`) });
  assert.ok(!(r instanceof SandboxCgroups));
  assert.match(r.reason, 'no cgroup v1 memory, pids or cpu hierarchy');
  assert.ok(r.fix.length > 0);
});

// ---- the real kernel ----

const rootSkip = needs('root');
const cg = rootSkip ? undefined : SandboxCgroups.open();
const skip =
  rootSkip ??
  (cg instanceof SandboxCgroups
    ? null
    : `${cg!.reason}. Fix: ${cg!.fix}; then (a v2 host needs the test process alone in its group) sudo systemd-run --scope -p Delegate=yes node --import tsx ${FILE}`);
reportSkip(FILE, skip);
const real = skip ? test.skip : test;
const cgroups = cg instanceof SandboxCgroups ? cg : undefined;

/** Starts a command inside `g` as the launcher does: this process moves in, spawns, and moves back. */
function startIn(g: SandboxCgroup, file: string, args: string[]): ChildProcess {
  for (const s of g.spawn) writeFileSync(s.procs, String(process.pid));
  try {
    return spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    for (const s of g.spawn) writeFileSync(s.home, String(process.pid));
  }
}

/** The file `name` of the group (v1: in whichever hierarchy has it). */
function fileOf(g: SandboxCgroup, name: string): string {
  const file = g.spawn.map((s) => path.join(path.dirname(s.procs), name)).find((f) => existsSync(f));
  assert.ok(file, `the group has a ${name}`);
  return file!;
}

async function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  let stdout = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.resume();
  const [code, signal] = child.exitCode !== null || child.signalCode !== null ? [child.exitCode, child.signalCode] : await once(child, 'exit');
  return { code, signal, stdout };
}

function running(pid: number): boolean {
  const st = readStat(pid);
  return st !== undefined && st.state !== 'Z';
}

real('a child started the launcher way is inside the group in every hierarchy, with the limits written', async () => {
  const g = cgroups!.create('limits', { memoryMiB: 64, pids: 16, cpuWeight: 100 });
  try {
    const child = startIn(g, '/bin/sleep', ['30']);
    const own = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8');
    for (const s of g.spawn) assert.ok(readFileSync(s.procs, 'utf8').split('\n').includes(String(child.pid)), `in ${s.procs}; /proc says ${own}`);
    assert.not.ok(readFileSync(g.spawn[0].procs, 'utf8').split('\n').includes(String(process.pid)), 'the starter went back home');
    const bytes = String(64 * 2 ** 20);
    if (cgroups!.support.version === 'v1') {
      assert.is(read(fileOf(g, 'memory.limit_in_bytes')), bytes);
      if (cgroups!.support.swap) assert.is(read(fileOf(g, 'memory.memsw.limit_in_bytes')), bytes);
      assert.is(read(fileOf(g, 'cpu.shares')), '1024', 'weight 100 is the v1 default share');
    } else {
      assert.is(read(fileOf(g, 'memory.max')), bytes);
      assert.is(read(fileOf(g, 'cpu.weight')), '100');
    }
    assert.is(read(fileOf(g, 'pids.max')), '16');
  } finally {
    await g.remove();
  }
});

real('a process that touches 200 MiB in a 64 MiB group is killed by the OOM killer, and oomKills() counts it', async () => {
  const g = cgroups!.create('oom', { memoryMiB: 64, pids: 16, cpuWeight: 100 });
  try {
    assert.is(g.oomKills(), 0);
    const hog = startIn(g, process.execPath, ['-e', 'const a = []; for (let i = 0; i < 200; i++) a.push(Buffer.alloc(2 ** 20, 1)); console.log("survived")']);
    const end = await exited(hog);
    assert.equal({ signal: end.signal, stdout: end.stdout }, { signal: 'SIGKILL', stdout: '' });
    assert.is(g.oomKills(), 1);
    const peak = g.memory().peakBytes;
    if (peak !== undefined) assert.ok(peak <= 64 * 2 ** 20, `peak ${peak} within the limit`);
  } finally {
    await g.remove();
  }
});

real('a fork loop cannot take the group past its pids limit', async () => {
  const g = cgroups!.create('forks', { memoryMiB: 64, pids: 16, cpuWeight: 100 });
  try {
    // `command eval` keeps dash going after a failed fork (a plain `sleep 30 &` ends the shell).
    const loop =
      'ok=0; failed=0; for i in $(seq 1 100); do if command eval "sleep 30 &" 2>/dev/null; then ok=$((ok+1)); else failed=$((failed+1)); fi; done; echo "$ok $failed"';
    const current = fileOf(g, 'pids.current');
    let most = 0;
    const sampler = setInterval(() => (most = Math.max(most, Number(read(current)))), 1);
    const sh = startIn(g, '/bin/sh', ['-c', loop]);
    const end = await exited(sh);
    clearInterval(sampler);
    const [ok, failed] = end.stdout.trim().split(' ').map(Number);
    assert.is(ok + failed, 100, end.stdout);
    assert.ok(failed >= 100 - 15, `${failed} forks failed: at most 15 sleeps fit beside the shell`);
    most = Math.max(most, Number(read(current)));
    assert.ok(most <= 16, `pids.current peaked at ${most}`);
    const peakFile = g.spawn.map((s) => path.join(path.dirname(s.procs), 'pids.peak')).find(existsSync);
    if (peakFile) assert.ok(Number(read(peakFile)) <= 16, `pids.peak ${read(peakFile)}`);
  } finally {
    await g.remove();
  }
});

real('setIdle toggles cpu.idle and keeps the weight; setLimits moves the memory limit both ways', async () => {
  const g = cgroups!.create('knobs', { memoryMiB: 64, pids: 16, cpuWeight: 200 });
  try {
    const v1 = cgroups!.support.version === 'v1';
    const weight = () => read(fileOf(g, v1 ? 'cpu.shares' : 'cpu.weight'));
    assert.is(weight(), v1 ? '2048' : '200');
    if (cgroups!.support.idle) {
      g.setIdle(true);
      assert.is(read(fileOf(g, 'cpu.idle')), '1');
      g.setLimits({ cpuWeight: 300 });
      g.setIdle(false);
      assert.is(read(fileOf(g, 'cpu.idle')), '0');
      assert.is(weight(), v1 ? '3072' : '300', 'the weight set while idle holds afterwards');
    } else console.log(`${FILE}: no cpu.idle on this kernel: the idle check is skipped`);
    // Up then down: v1 refuses a memory limit above memsw, so the order of the two writes matters.
    for (const mib of [256, 32]) {
      g.setLimits({ memoryMiB: mib });
      const files = v1 ? ['memory.limit_in_bytes', ...(cgroups!.support.swap ? ['memory.memsw.limit_in_bytes'] : [])] : ['memory.max'];
      for (const f of files) assert.is(read(fileOf(g, f)), String(mib * 2 ** 20), f);
    }
  } finally {
    await g.remove();
  }
});

real('remove() kills what is left, grandchildren too, and deletes the directories', async () => {
  const g = cgroups!.create('leftovers', { memoryMiB: 64, pids: 16, cpuWeight: 100 });
  const sh = startIn(g, '/bin/sh', ['-c', 'sleep 30 & sleep 30 & wait']);
  let pids: number[] = [];
  for (let i = 0; i < 100 && pids.length < 3; i++) {
    await new Promise((r) => setTimeout(r, 10));
    pids = readFileSync(g.spawn[0].procs, 'utf8').split('\n').filter(Boolean).map(Number);
  }
  assert.is(pids.length, 3, 'the shell and its two sleeps');
  const end = exited(sh);
  await g.remove();
  assert.is((await end).signal, 'SIGKILL');
  for (const pid of pids) assert.not.ok(running(pid), `${pid} is gone`);
  for (const s of g.spawn) assert.not.ok(existsSync(path.dirname(s.procs)), `${path.dirname(s.procs)} removed`);
  await g.remove(); // a second call is harmless
});

real('close() leaves nothing under the daemon group; a dead daemon’s groups go at the next open', async () => {
  const other = SandboxCgroups.open();
  assert.ok(other instanceof SandboxCgroups);
  const g = other.create('forgotten', { memoryMiB: 64, pids: 16, cpuWeight: 100 });
  other.create('empty', { memoryMiB: 64, pids: 16, cpuWeight: 100 });
  const parents = g.spawn.map((s) => path.dirname(path.dirname(s.procs)));
  const sleeper = startIn(g, '/bin/sleep', ['30']);
  const end = exited(sleeper);
  other.close();
  for (const dir of parents) assert.not.ok(existsSync(dir), `${dir} removed`);
  assert.is((await end).signal, 'SIGKILL', 'a process of a group never removed is killed, not set free');

  const stale = parents.map((p) => path.join(path.dirname(p), `ignition-${NO_PID}-1`, 'old-sandbox'));
  for (const dir of stale) mkdirSync(dir, { recursive: true });
  const next = SandboxCgroups.open();
  try {
    assert.ok(next instanceof SandboxCgroups);
    for (const dir of stale) assert.not.ok(existsSync(path.dirname(dir)), `${path.dirname(dir)} removed`);
  } finally {
    if (next instanceof SandboxCgroups) next.close();
  }
});

real('open() as an unprivileged user returns a reason and a fix', () => {
  // Copied where uid 65534 can read it, in case the checkout is not world-readable.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ignition-cgroups-nobody-'));
  try {
    const copy = path.join(dir, 'cgroups.mjs');
    buildSync({
      entryPoints: [new URL('../../platform/vmm/process/cgroups.ts', import.meta.url).pathname],
      format: 'esm',
      platform: 'node',
      outfile: copy,
      logLevel: 'silent',
    });
    chmodSync(dir, 0o755);
    const r = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `import { SandboxCgroups } from ${JSON.stringify(copy)}; console.log(JSON.stringify(SandboxCgroups.open()))`],
      {
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      },
    );
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.type(out.reason, 'string', r.stdout);
    assert.match(out.reason, /not writable|not delegated/);
    assert.match(out.fix, 'Delegate=yes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.after(() => cgroups?.close());
test.run();
