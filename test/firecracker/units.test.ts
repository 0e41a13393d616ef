/**
 * The Firecracker driver's pure parts: cleanup stack order and error collection, the step runner's
 * naming and timing, sparse/reflink disk clones, jailer command lines and ids, socket-path limits,
 * and the fc_ error catalogue.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorCatalogue, IgnitionError } from '../../platform/errors.ts';
import { CleanupStack } from '../../platform/vmm/firecracker/cleanup.ts';
import { cloneDisk, sparseCopy } from '../../platform/vmm/firecracker/disk.ts';
import * as fcErrors from '../../platform/vmm/firecracker/errors.ts';
import { jailerArgs, jailerId, jailRoot } from '../../platform/vmm/firecracker/jailer.ts';
import { directLayout, jailedLayout } from '../../platform/vmm/firecracker/layout.ts';
import { needs } from '../support/needs.ts';
import { chmodSync, existsSync, mkdirSync, readlinkSync } from 'node:fs';
import { runSteps } from '../../platform/vmm/firecracker/steps.ts';
import type { StepTiming } from '../../platform/vmm/port.ts';

test('cleanup stack runs newest first, once, and collects every error', async () => {
  const order: string[] = [];
  const stack = new CleanupStack();
  stack.defer('workspace', () => void order.push('workspace'));
  stack.defer('disk', () => {
    order.push('disk');
    throw new Error('busy');
  });
  stack.defer('process', async () => void order.push('process'));
  const [a, b] = await Promise.all([stack.run(), stack.run()]);
  assert.equal(order, ['process', 'disk', 'workspace']);
  assert.is(a, b);
  assert.is(a.length, 1);
  assert.match(a[0].message, /cleanup "disk" failed: busy/);
  assert.throws(() => stack.defer('late', () => undefined), /after the stack already ran/);
});

test('steps run in order, are timed, and a failure names its step with the cause', async () => {
  const timings: StepTiming[] = [];
  const seen: string[] = [];
  const cause = fcErrors.FcApiFault('PUT /vsock failed', { data: { method: 'PUT', path: '/vsock', status: 400 } });
  const steps = [
    { name: 'one', run: () => void seen.push('one') },
    { name: 'skipped', when: () => false, run: () => void seen.push('skipped') },
    {
      name: 'two',
      run: () => {
        throw cause;
      },
    },
    { name: 'three', run: () => void seen.push('three') },
  ];
  const events: string[] = [];
  try {
    await runSteps(steps, null, timings, fcErrors.FcBootFailed, 'boot of vm_1', (e) => events.push(`${e.step}:${e.ok}`));
    assert.unreachable();
  } catch (err) {
    assert.instance(err, IgnitionError);
    const e = err as IgnitionError;
    assert.is(e.code, 'fc_boot_failed');
    assert.is(e.data.step, 'two');
    assert.is(e.data.code, 'fc_api_fault');
    assert.is(e.data.path, '/vsock');
    assert.is(e.cause, cause);
    assert.match(e.message, /^boot of vm_1 failed at step "two": PUT \/vsock failed/);
  }
  assert.equal(seen, ['one']);
  assert.equal(
    timings.map((t) => t.step),
    ['one', 'two'],
  );
  assert.equal(events, ['one:true', 'two:false']);
});

test('repeated sparse copies of one source reuse its data map; a changed source is scanned again', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcd-'));
  try {
    const src = path.join(dir, 'src.img');
    const fd = openSync(src, 'w');
    // Data across a 1 MiB chunk boundary and in two separate places.
    writeSync(fd, Buffer.alloc(8192, 1), 0, 8192, 1024 * 1024 - 4096);
    writeSync(fd, Buffer.from('tail data'), 0, 9, 20 * 1024 * 1024);
    ftruncateSync(fd, 24 * 1024 * 1024);
    closeSync(fd);
    for (const name of ['a.img', 'b.img', 'c.img']) {
      await sparseCopy(src, path.join(dir, name));
      assert.ok(readFileSync(path.join(dir, name)).equals(readFileSync(src)), `${name}: same bytes`);
      assert.ok(statSync(path.join(dir, name)).blocks * 512 < 256 * 1024, `${name}: sparse`);
    }
    // New data in what was a hole: the cached map no longer describes the file.
    await new Promise((r) => setTimeout(r, 20));
    const again = openSync(src, 'r+');
    writeSync(again, Buffer.from('new'), 0, 3, 10 * 1024 * 1024);
    closeSync(again);
    await sparseCopy(src, path.join(dir, 'd.img'));
    assert.ok(readFileSync(path.join(dir, 'd.img')).equals(readFileSync(src)), 'the change is copied');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Bytes this process has read through read(2) and the like, threads included (/proc/self/io). */
const bytesRead = () => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);

test('sparse copies of one source started together scan it once', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcd-'));
  try {
    const src = path.join(dir, 'src.img');
    const size = 24 * 1024 * 1024;
    const fd = openSync(src, 'w');
    writeSync(fd, Buffer.alloc(8192, 1), 0, 8192, 4096);
    ftruncateSync(fd, size);
    closeSync(fd);
    const names = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => path.join(dir, `${n}.img`));
    const before = bytesRead();
    // As a fork storm's clones do with the fork's fresh snapshot disk.
    await Promise.all(names.map((dst) => sparseCopy(src, dst)));
    const read = bytesRead() - before;
    for (const dst of names) assert.ok(readFileSync(dst).equals(readFileSync(src)), `${dst}: same bytes`);
    assert.ok(read < 2 * size, `${names.length} copies read ${read} bytes of a ${size}-byte source: more than one scan`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('disk clone keeps content and holes (sparse fallback), never overwrites', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcd-'));
  try {
    const src = path.join(dir, 'src.img');
    const fd = openSync(src, 'w');
    writeSync(fd, Buffer.from('head'), 0, 4, 0);
    writeSync(fd, Buffer.from('middle'), 0, 6, 32 * 1024 * 1024);
    ftruncateSync(fd, 64 * 1024 * 1024);
    closeSync(fd);
    const dst = path.join(dir, 'dst.img');
    await sparseCopy(src, dst);
    assert.ok(readFileSync(dst).equals(readFileSync(src)), 'same bytes');
    const blocks = Number(execFileSync('stat', ['-c', '%b', dst], { encoding: 'utf8' }).trim());
    assert.ok(blocks * 512 < 1024 * 1024, `sparse: ${blocks} blocks allocated for 64 MiB`);
    const viaClone = path.join(dir, 'clone.img');
    const method = await cloneDisk(src, viaClone);
    assert.ok(method === 'reflink' || method === 'sparse');
    assert.is(statSync(viaClone).size, statSync(src).size);
    try {
      await cloneDisk(src, viaClone);
      assert.unreachable('existing destination must not be overwritten');
    } catch (err) {
      assert.is((err as NodeJS.ErrnoException).code, 'EEXIST');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('jailer: ids, chroot root and command line', () => {
  assert.is(jailerId('vm_abc_1'), 'vm-abc-1');
  assert.throws(() => jailerId('vm.bad'), /cannot be used as a jailer id/);
  const opts = {
    binary: '/usr/bin/jailer',
    uid: 1000,
    gid: 1000,
    chrootBaseDir: '/srv/j',
    netns: '/var/run/netns/ign3',
    cgroups: ['memory.max=268435456'],
    newPidNs: true,
  };
  assert.is(jailRoot(opts, '/opt/fc/firecracker', 'vm_1'), '/srv/j/firecracker/vm-1/root');
  assert.equal(jailerArgs(opts, '/opt/fc/firecracker', 'vm_1', ['--api-sock', '/run/firecracker.socket']), [
    '--id',
    'vm-1',
    '--exec-file',
    '/opt/fc/firecracker',
    '--uid',
    '1000',
    '--gid',
    '1000',
    '--chroot-base-dir',
    '/srv/j',
    '--cgroup-version',
    '2',
    '--cgroup',
    'memory.max=268435456',
    '--netns',
    '/var/run/netns/ign3',
    '--new-pid-ns',
    '--',
    '--api-sock',
    '/run/firecracker.socket',
  ]);
});

test('layout refuses workspaces whose socket paths exceed the Unix address limit', () => {
  const ok = directLayout('/tmp/ws/vm_1');
  assert.is(ok.apiSocket, '/tmp/ws/vm_1/api.sock');
  assert.is(ok.vsock, '/tmp/ws/vm_1/v.sock');
  try {
    directLayout(`/tmp/${'d'.repeat(100)}/vm_1`);
    assert.unreachable();
  } catch (err) {
    assert.is((err as IgnitionError).code, 'fc_config_invalid');
  }
});

test('fc_ error catalogue: every code prefixed, unique, with a status and title', () => {
  const factories = Object.values(fcErrors);
  assert.ok(factories.length >= 15);
  for (const f of factories) {
    assert.match(f.code, /^fc_[a-z_]+$/);
    assert.is(errorCatalogue().get(f.code), f);
    assert.ok(f.status >= 400 && f.status < 600);
    assert.ok(f.title.length > 0);
  }
  assert.is(new Set(factories.map((f) => f.code)).size, factories.length);
});

const asRoot = needs('root');
if (asRoot) console.log(`SKIP test/firecracker/units.test.ts (jailed layout): ${asRoot}`);
(asRoot ? test.skip : test)(
  "jailed layout: links keep a registry file's owner, the disk clone goes to the jail's uid, the jail is findable and removed",
  () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'fcj-'));
    try {
      const workspace = path.join(root, 'ws', 'vm_j1');
      mkdirSync(workspace, { recursive: true });
      const jailer = { binary: '/usr/bin/jailer', uid: 1234, gid: 1235, chrootBaseDir: path.join(root, 'jails') };
      const layout = jailedLayout(workspace, jailer, '/usr/bin/firecracker', 'vm_j1');
      const registryFile = path.join(root, 'memory.blob');
      writeFileSync(registryFile, 'guest memory');
      chmodSync(registryFile, 0o444);
      assert.is(layout.stage(registryFile, 'memory.snap', { noCopy: true }), 'memory.snap');
      assert.is(statSync(path.join(layout.root, 'memory.snap')).ino, statSync(registryFile).ino, 'hard link, not a copy');
      assert.is(statSync(registryFile).uid, 0, 'the registry file keeps its owner');
      const disk = path.join(layout.root, 'rootfs.ext4');
      writeFileSync(disk, 'disk clone');
      layout.own(disk);
      assert.equal([statSync(disk).uid, statSync(disk).gid], [1234, 1235]);
      // The workspace points at the jail, so a daemon reaping a crashed run can remove it.
      assert.is(readlinkSync(path.join(workspace, 'jail.link')), path.dirname(layout.root));
      layout.dispose();
      assert.not.ok(existsSync(path.dirname(layout.root)));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
);

test.run();
