/**
 * The idle cgroup of background machines (platform/vmm/process/idle-group.ts), on the real cgroup
 * v1 cpu hierarchy: made with cpu.idle set, processes moved in and out, removed on close, and a
 * group left behind by a daemon that died removed by the next one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cpuCgroupOf, IdleGroup } from '../../platform/vmm/process/idle-group.ts';

test('cpuCgroupOf reads the cpu line of /proc/<pid>/cgroup, alone or shared with cpuacct', () => {
  assert.is(cpuCgroupOf('5:memory:/x\n1:cpu:/\n0::/'), '/');
  assert.is(cpuCgroupOf('3:cpu,cpuacct:/system.slice/ignition.service\n'), '/system.slice/ignition.service');
  assert.is(cpuCgroupOf('0::/user.slice\n'), undefined, 'cgroup v2 only: no v1 cpu line');
});

const opened = IdleGroup.open();
if (!(opened instanceof IdleGroup)) {
  console.log(`test/unit/process-idle-group.test.ts: the cgroup tests are skipped: ${opened.reason}. They need Linux 5.15+ with the cgroup v1 cpu controller mounted at /sys/fs/cgroup/cpu, as root: node --import tsx test/unit/process-idle-group.test.ts`);
  test.run();
} else {
  const group = opened;

  test('the group is made with cpu.idle, takes a process and gives it back', async () => {
    assert.is(readFileSync(path.join(group.dir, 'cpu.idle'), 'utf8').trim(), '1');
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    try {
      assert.is(group.holds(child.pid!), false);
      assert.ok(group.enter([child.pid!]));
      assert.ok(group.holds(child.pid!), 'moved in');
      assert.match(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8'), path.basename(group.dir));
      assert.ok(group.leave([child.pid!]));
      assert.is(group.holds(child.pid!), false, 'moved back');
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('close() moves what is left back home and removes the group', async () => {
    const other = IdleGroup.open();
    assert.ok(other instanceof IdleGroup);
    assert.is.not(other.dir, group.dir, 'each driver has a group of its own');
    const child = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    try {
      other.enter([child.pid!]);
      other.close();
      assert.is(existsSync(other.dir), false);
      assert.is(other.holds(child.pid!), false);
      assert.ok(existsSync(`/proc/${child.pid}`), 'the process itself is left running');
    } finally {
      child.kill('SIGKILL');
    }
  });

  test("a group left by a daemon that is gone is removed by the next one to open", () => {
    // A pid above the kernel's limit cannot be running.
    const stale = path.join(path.dirname(group.dir), `ignition-idle-${2 ** 23}-1`);
    mkdirSync(stale);
    const next = IdleGroup.open();
    try {
      assert.ok(next instanceof IdleGroup);
      assert.is(existsSync(stale), false);
      assert.ok(existsSync(group.dir), "a live daemon's group is left alone");
    } finally {
      if (next instanceof IdleGroup) next.close();
    }
  });

  test.after(() => group.close());
  test.run();
}
