/**
 * The process driver's launcher (platform/vmm/spawner.ts): children are started by it,
 * not by the caller; their output, exit and start failures come back; close() and the caller's
 * death (even by SIGKILL) end every child it started. No timing is asserted beyond generous
 * deadlines for a process to be gone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Spawner, type SpawnedChild } from '../../platform/vmm/spawner.ts';
import { readStat } from '../support/procstat.ts';
import { ROOT } from '../support/daemon.ts';
import { missing, rerun } from '../support/needs.ts';
import { lack, skipUnless } from '../support/skip.ts';
import { SandboxCgroups } from '../../platform/vmm/process/cgroups.ts';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** Everything the child wrote to `stream`, once it ended. */
async function collect(child: SpawnedChild, stream: 'stdout' | 'stderr'): Promise<string> {
  let text = '';
  child[stream].setEncoding('utf8');
  child[stream].on('data', (chunk: string) => (text += chunk));
  await once(child[stream], 'end');
  return text;
}

/** Whether `pid` still runs (a zombie counts as gone: it has exited). */
function running(pid: number): boolean {
  const st = readStat(pid);
  return st !== undefined && st.state !== 'Z';
}

async function gone(pid: number, withinMs = 10_000): Promise<boolean> {
  const until = Date.now() + withinMs;
  while (Date.now() < until) {
    if (!running(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !running(pid);
}

test('a child is started by the launcher, and its output and exit come back', async () => {
  const spawner = new Spawner();
  try {
    const child = spawner.spawn({ file: '/bin/sh', args: ['-c', 'echo out; echo err >&2; exit 3'], env, cwd: '/' });
    const [out, err, [code]] = await Promise.all([collect(child, 'stdout'), collect(child, 'stderr'), once(child, 'exit')]);
    assert.ok(child.pid, 'a pid');
    assert.is(out, 'out\n');
    assert.is(err, 'err\n');
    assert.is(code, 3);
    assert.is(child.exitCode, 3);
    assert.ok(spawner.pid && spawner.pid !== process.pid, 'the launcher is a process of its own');
    const sleeper = spawner.spawn({ file: '/bin/sleep', args: ['30'], env, cwd: '/' });
    await sleeper.spawned;
    assert.is(readStat(sleeper.pid!)?.ppid, spawner.pid, "the launcher is the child's parent");
    process.kill(sleeper.pid!, 'SIGKILL');
    const [, signal] = await once(sleeper, 'exit');
    assert.is(signal, 'SIGKILL');
  } finally {
    await spawner.close();
  }
});

test('a command with a session is a session of its own', async () => {
  const spawner = new Spawner();
  try {
    const own = readStat(process.pid)!.session;
    const child = spawner.spawn({ file: '/bin/sleep', args: ['30'], env, cwd: '/', session: true });
    await child.spawned;
    const st = readStat(child.pid!)!;
    assert.is(st.session, child.pid, 'the child leads a new session (setsid before its exec)');
    assert.is.not(st.session, own);
    const plain = spawner.spawn({ file: '/bin/sleep', args: ['30'], env, cwd: '/' });
    await plain.spawned;
    assert.is(readStat(plain.pid!)!.session, own, 'without one, the child stays in our session');
    for (const c of [child, plain]) {
      process.kill(c.pid!, 'SIGKILL');
      await once(c, 'exit');
    }
  } finally {
    await spawner.close();
  }
});

/** Whether this process may make cgroups, found out (and let go) before the test is registered. */
function cgroupLack() {
  const probe = SandboxCgroups.open();
  if (probe instanceof SandboxCgroups) {
    probe.close();
    return null;
  }
  // Root makes cgroups on v1 always and on v2 inside a delegated scope; others need root.
  return lack(probe.reason, process.getuid?.() === 0 ? `systemd-run --scope -p Delegate=yes ${rerun()}` : rerun(true));
}

skipUnless(cgroupLack())('a command with cgroups starts in them; the launcher goes back to its own', async () => {
  const groups = SandboxCgroups.open();
  if (!(groups instanceof SandboxCgroups)) throw new Error(`no cgroups now, though there were at registration: ${groups.reason}`);
  // The launcher's own threads count against pids.max while it forks inside the group (a dozen
  // for a Node process): the limit must leave room for them.
  const group = groups.create('spawner-test', { memoryMiB: 64, pids: 64, cpuWeight: 100 });
  const spawner = new Spawner();
  // Every hierarchy's line of /proc/<pid>/cgroup that names the group.
  const inGroup = (pid: number) =>
    readFileSync(`/proc/${pid}/cgroup`, 'utf8')
      .split('\n')
      .filter((l) => l.endsWith('/spawner-test')).length;
  try {
    const child = spawner.spawn({ file: '/bin/sleep', args: ['30'], env, cwd: '/', cgroups: group.spawn });
    const failed = once(child, 'error').then(([err]) => err as Error);
    await child.spawned;
    assert.ok(child.pid, `the spawn failed: ${child.pid ? '' : (await failed).message}`);
    assert.is(inGroup(child.pid!), group.spawn.length, 'the child is in the group in every hierarchy');
    assert.is(inGroup(spawner.pid!), 0, 'the launcher is back in its own');
    const plain = spawner.spawn({ file: '/bin/sleep', args: ['30'], env, cwd: '/' });
    plain.on('error', () => {});
    await plain.spawned;
    assert.is(inGroup(plain.pid!), 0, 'a later spawn without one is not in it');
    for (const c of [child, plain]) {
      process.kill(c.pid!, 'SIGKILL');
      await once(c, 'exit');
    }
  } finally {
    await spawner.close();
    await group.remove();
    groups.close();
  }
});

skipUnless(missing('root'))('a command runs as the uid and gid asked for, with no supplementary groups', async () => {
  const spawner = new Spawner();
  try {
    const child = spawner.spawn({ file: '/bin/sh', args: ['-c', 'id -u; id -g; id -G'], env, cwd: '/', uid: 1_800_000_123, gid: 1_800_000_123 });
    // Its exit must be seen before close(), which reports a child still running as an error.
    const exited = once(child, 'exit');
    assert.equal((await collect(child, 'stdout')).trim().split('\n'), ['1800000123', '1800000123', '1800000123']);
    await exited;
  } finally {
    await spawner.close();
  }
});

test('descriptors: a listening socket the child serves at the path, and a file opened for it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-spawner-'));
  const sock = path.join(dir, 'v.sock');
  writeFileSync(path.join(dir, 'data'), 'from the launcher');
  const spawner = new Spawner();
  try {
    // The child answers each connection with the file it was handed as fd 4, on the socket of fd 3.
    const program = "const fs=require('fs');const d=fs.readFileSync(4,'utf8');require('net').createServer((s)=>s.end(d)).listen({fd:3},()=>console.log('up'));";
    const child = spawner.spawn({ file: process.execPath, args: ['-e', program], env, cwd: dir, fds: [{ listen: sock }, { open: path.join(dir, 'data') }] });
    await child.spawned;
    await once(child.stdout, 'data');
    assert.ok(existsSync(sock), 'the socket is at its path once the child runs');
    assert.equal(readdirSync(dir).sort(), ['data', 'v.sock'], 'no temporary name is left');
    const answer = await new Promise<string>((resolve, reject) => {
      let text = '';
      net
        .connect(sock)
        .on('data', (d) => (text += d))
        .on('end', () => resolve(text))
        .on('error', reject);
    });
    assert.is(answer, 'from the launcher');
    process.kill(child.pid!, 'SIGKILL');
    await once(child, 'exit');
  } finally {
    await spawner.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a command that cannot start reports an error and no pid', async () => {
  const spawner = new Spawner();
  try {
    const child = spawner.spawn({ file: '/nonexistent/ignition-no-such-binary', args: [], env, cwd: '/' });
    const [err] = (await once(child, 'error')) as [Error];
    assert.match(err.message, /ENOENT/);
    await child.spawned;
    assert.is(child.pid, undefined);
  } finally {
    await spawner.close();
  }
});

test('close() ends the launcher and every child still running', async () => {
  const spawner = new Spawner();
  const child = spawner.spawn({ file: '/bin/sleep', args: ['30'], env, cwd: '/' });
  const reported = once(child, 'error') as Promise<[Error]>;
  await child.spawned;
  const launcher = spawner.pid!;
  await spawner.close();
  const [err] = await reported;
  assert.match(err.message, /launcher stopped/, 'a child that was still running is reported gone');
  assert.ok(await gone(child.pid!), 'the child is gone');
  assert.ok(await gone(launcher), 'the launcher is gone');
});

test("when its owner is killed (SIGKILL), the launcher kills the children it started, and a session's whole group, and exits", async () => {
  // The owner is a separate Node process, as the daemon is; it prints the pids and waits. The
  // second child leads a session (as a VMM does) and has a child of its own in its group.
  const script = `
    import { Spawner } from './platform/vmm/spawner.ts';
    import { once } from 'node:events';
    const s = new Spawner();
    const c = s.spawn({ file: '/bin/sleep', args: ['60'], env: { PATH: '/usr/bin:/bin' }, cwd: '/' });
    const g = s.spawn({ file: '/bin/sh', args: ['-c', 'sleep 60 & echo $!; wait'], env: { PATH: '/usr/bin:/bin' }, cwd: '/', session: {} });
    g.stdout.setEncoding('utf8');
    const [first] = await once(g.stdout, 'data');
    await c.spawned;
    console.log(JSON.stringify({ child: c.pid, leader: g.pid, member: Number(first.trim()), launcher: s.pid }));
    setInterval(() => {}, 1000);
  `;
  const owner = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  owner.stdout!.setEncoding('utf8');
  const line = await new Promise<string>((resolve, reject) => {
    owner.stdout!.on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    owner.once('exit', (code) => reject(new Error(`the owner exited with ${code} before starting a child`)));
  });
  const { child, leader, member, launcher } = JSON.parse(line) as { child: number; leader: number; member: number; launcher: number };
  try {
    assert.ok(running(child) && running(leader) && running(member) && running(launcher));
    assert.is(readStat(member)?.ppid, leader);
    owner.kill('SIGKILL');
    assert.ok(await gone(child), 'the child is gone');
    assert.ok(await gone(leader), "the session's leader is gone");
    assert.ok(await gone(member), 'and the rest of its group');
    assert.ok(await gone(launcher), 'the launcher is gone');
  } finally {
    for (const pid of [child, leader, member, launcher]) {
      try {
        if (running(pid)) process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

test.run();
