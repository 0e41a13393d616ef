/**
 * Reaping what a crashed daemon left (platform/vmm/records.ts) with real processes: a recorded
 * instance whose VMM's command line does not name its workspace (a spare VMM adopted after it was
 * started elsewhere), with a child in its process group; a jailed VMM found by `--id`, whose jail
 * goes too; an unrecorded fork clone and fork directory; a process driver's spare sandbox (never
 * recorded: platform/vmm/process/spares.ts); and an unrelated process that must live.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { functionMigrations } from '../../platform/functions/schema.ts';
import { vmmMigrations } from '../../platform/vmm/schema.ts';
import { createLogger } from '../../platform/log.ts';
import { openDatabase } from '../../platform/store/db.ts';
import { MachineRecords } from '../../platform/vmm/records.ts';
import { SPARE_PREFIX } from '../../platform/vmm/process/spares.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** A process group led by `sh` (cwd `cwd`, argv naming nothing of ours) with a `sleep` child. */
function group(cwd: string, ...args: string[]): ChildProcess {
  return spawn('sh', ['-c', 'sleep 300 & wait', ...args], { cwd, detached: true, stdio: 'ignore' });
}

test('a restarted daemon kills and removes what the last one left, and only that', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ign-reap-'));
  const ws = path.join(root, 'machines');
  const store = openDatabase(path.join(root, 'ignition.db'), [...functionMigrations, ...vmmMigrations]);
  const records = new MachineRecords(store);
  const started: ChildProcess[] = [];
  try {
    // An instance whose VMM was a spare: started in another directory, then moved into the workspace.
    const spareDir = path.join(ws, '.spare-1');
    mkdirSync(spareDir, { recursive: true });
    const adopted = group(spareDir);
    started.push(adopted);
    const instance = path.join(ws, 'vm_inst1');
    await new Promise((r) => setTimeout(r, 200));
    const { renameSync } = await import('node:fs');
    renameSync(spareDir, instance);
    records.insert({ id: 'vm_inst1', driver: 'firecracker', role: 'instance', workspace: instance, state: 'running', pid: adopted.pid });

    // A jailed VMM: cwd is its chroot, its command line carries the jailer id.
    const jail = path.join(root, 'jail', 'firecracker', 'vm-jail1');
    mkdirSync(path.join(jail, 'root'), { recursive: true });
    const jailedWs = path.join(ws, 'vm_jail1');
    mkdirSync(jailedWs, { recursive: true });
    symlinkSync(jail, path.join(jailedWs, 'jail.link'));
    const jailed = spawn('sh', ['-c', 'sleep 300 & wait', 'firecracker', '--id', 'vm-jail1'], {
      cwd: path.join(jail, 'root'),
      detached: true,
      stdio: 'ignore',
    });
    started.push(jailed);
    records.insert({ id: 'vm_jail1', driver: 'firecracker', role: 'build', workspace: jailedWs, state: 'running', pid: jailed.pid });

    // Not recorded yet: a fork clone that was still starting, and the fork's snapshot directory.
    const clone = path.join(ws, 'vm_src_f1234');
    const forkDir = path.join(ws, '.fork-vm_src-abc');
    mkdirSync(clone, { recursive: true });
    mkdirSync(forkDir, { recursive: true });
    const orphan = group(clone);
    started.push(orphan);

    // A process driver's spare sandbox, started and never adopted.
    const pspare = path.join(ws, `${SPARE_PREFIX}spare_1`);
    mkdirSync(pspare, { recursive: true });
    const spareProc = group(pspare);
    started.push(spareProc);

    // A user VM: its process goes, its record and workspace stay (stopped).
    const userVm = path.join(ws, 'vm_user1');
    mkdirSync(userVm, { recursive: true });
    const user = group(userVm);
    started.push(user);
    records.insert({ id: 'vm_user1', driver: 'firecracker', role: 'vm', workspace: userVm, state: 'running', pid: user.pid });

    // Someone else's process, not in any of our directories.
    const bystander = group(root);
    started.push(bystander);
    await new Promise((r) => setTimeout(r, 200));

    const reaped = records.reap(createLogger({ level: 'error' }), ws);
    assert.equal(reaped.sort(), ['vm_inst1', 'vm_jail1']);
    await new Promise((r) => setTimeout(r, 200));
    for (const p of [adopted, jailed, orphan, spareProc, user]) {
      assert.not.ok(alive(p.pid!), `${p.pid} killed`);
      assert.equal(groupMembers(p.pid!), [], `${p.pid}'s group killed`);
    }
    assert.ok(alive(bystander.pid!), 'an unrelated process lives');
    for (const gone of [instance, jailedWs, jail, clone, forkDir, pspare]) assert.not.ok(existsSync(gone), `${gone} removed`);
    assert.ok(existsSync(userVm), 'a user VM keeps its workspace');
    assert.equal(
      records.list().map((r) => [r.id, r.state, r.pid]),
      [['vm_user1', 'stopped', null]],
    );
  } finally {
    for (const p of started) {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
    store.sqlite.close();
    rmSync(root, { recursive: true, force: true });
  }
});

/** Live (not zombie) processes in process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

test.run();
