/**
 * The reflink paths on a real reflink filesystem: an XFS image made with `reflink=1`, loop-mounted
 * in this test's temp directory (root and xfsprogs needed; otherwise skipped, printing why). The
 * driver's `diffSnapshots: 'auto'` must find reflinks there, disk clones must be reflinks, and an
 * incremental snapshot's base must be reflinked too, not copied; every snapshot still restores.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirecrackerDriver } from '../../platform/vmm/firecracker/driver.ts';
import { cloneDisk, reflinkWorks } from '../../platform/vmm/firecracker/disk.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { AGENT_BUILT, AGENT_FIX, agentCall, bootSpec, FAKE_BINARY, settleProcesses } from './support.ts';

const FILE = 'test/firecracker/reflink.test.ts';
let skip = needs('root', 'xfs') ?? (AGENT_BUILT ? null : AGENT_FIX);
const scratch = mkdtempSync(path.join(os.tmpdir(), 'fcx-'));
const mnt = path.join(scratch, 'mnt');
let mounted = false;
if (!skip) {
  try {
    const image = path.join(scratch, 'xfs.img');
    writeFileSync(image, '');
    truncateSync(image, 512 * 1024 * 1024);
    execFileSync('mkfs.xfs', ['-q', '-m', 'reflink=1', image], { stdio: 'pipe' });
    mkdirSync(mnt);
    // A loop mount is detached again by umount (autoclear).
    execFileSync('mount', ['-o', 'loop', image, mnt], { stdio: 'pipe' });
    mounted = true;
  } catch (err) {
    skip = `cannot loop-mount an XFS image here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()}): run as root on a host with loop devices: node --import tsx ${FILE}`;
  }
}
reportSkip(FILE, skip);
const run = skip ? test.skip : test;

test.after(() => {
  if (mounted) {
    try {
      execFileSync('umount', [mnt], { stdio: 'pipe' });
    } catch {
      // Something under it still open (a failed test's leftovers): detach it anyway, lazily.
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
    }
  }
  rmSync(scratch, { recursive: true, force: true });
});

run('reflinks are found and used for disk clones and incremental snapshot bases', async () => {
  const root = path.join(mnt, 'r');
  mkdirSync(root);
  assert.ok(reflinkWorks(root), 'XFS with reflink=1 clones');
  const kernel = path.join(root, 'vmlinux');
  const rootfs = path.join(root, 'rootfs.ext4');
  const bundle = path.join(root, 'hello.mjs');
  writeFileSync(kernel, 'kernel stand-in');
  writeFileSync(rootfs, Buffer.alloc(4 * 1024 * 1024, 7));
  writeFileSync(bundle, 'let n = 0;\nexport default { fetch(req) { n++; return new Response(`hello ${new URL(req.url).pathname} ${n}`); } };\n');
  assert.is(await cloneDisk(rootfs, path.join(root, 'clone.ext4')), 'reflink');

  const driver = new FirecrackerDriver({
    binary: FAKE_BINARY,
    kernel,
    rootfs,
    workspacesDir: path.join(root, 'ws'),
    diffSnapshots: 'auto',
    startTimeoutMs: 60_000,
    bootAgentTimeoutMs: 60_000,
    restoreAgentTimeoutMs: 60_000,
  });
  assert.ok(driver.incrementalSnapshots, 'auto turns incremental snapshots on where reflinks work');
  const m = await driver.boot({ ...bootSpec(root, 'vm_x1', bundle), incrementalSnapshots: true });
  let clone;
  try {
    const s1 = await m.snapshot(path.join(root, 's1'));
    const s2 = await m.snapshot(path.join(root, 's2'));
    assert.equal(m.lastSnapshot, { type: 'Diff', base: s1.memory, copy: 'reflink' });
    clone = await driver.restore({ ...bootSpec(root, 'vm_x2'), snapshot: s2 });
    const res = await agentCall(clone, 'GET', '/v1/invoke/ping');
    assert.is(res.status, 200);
    assert.match(res.text, /^hello \/ping \d+$/);
  } finally {
    await Promise.allSettled([m, clone].filter((x) => x !== undefined).map((x) => x!.destroy()));
    assert.equal(await settleProcesses(root), []);
  }
});

test.run();
