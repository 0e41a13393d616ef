/**
 * Smoke test of the whole guest path without KVM: QEMU's software emulation boots a distribution
 * kernel with the base image (unpacked and packed as an initramfs) and the test waits, bounded,
 * for the agent's ready line on the serial console. That proves kernel → /sbin/init → Node →
 * agent; vsock itself is covered by the Firecracker driver's live tests (no vhost-vsock here).
 *
 * Kernel: $IGNITION_QEMU_KERNEL, else the newest /boot/vmlinuz-* (Debian: apt-get install -y
 * linux-image-amd64).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { buildBaseImage } from '../../platform/image/index.ts';
import { unpackImage } from '../../platform/image/inspect.ts';
import { packInitramfs } from '../../platform/image/initramfs.ts';
import { bootUnderQemu } from '../../platform/image/qemu.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { agentBundle, tempDir } from './support.ts';

function findKernel(): string | null {
  const fromEnv = process.env.IGNITION_QEMU_KERNEL;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  if (!existsSync('/boot')) return null;
  const kernels = readdirSync('/boot')
    .filter((f) => f.startsWith('vmlinuz-'))
    .sort();
  return kernels.length ? path.join('/boot', kernels[kernels.length - 1]) : null;
}

const kernel = findKernel();
const skip =
  needs('qemu', 'mke2fs', 'debugfs') ??
  (kernel ? null : 'needs a bootable x86_64 kernel: apt-get install -y linux-image-amd64 (or set IGNITION_QEMU_KERNEL=<vmlinuz>)');
reportSkip('test/image/qemu.test.ts', skip);
const tmp = tempDir('image-qemu');
test.after(() => tmp.cleanup());

(skip ? test.skip : test)('a kernel boots the base image under TCG and the agent reports ready on the console', async () => {
  const image = await buildBaseImage({
    outFile: path.join(tmp.dir, 'base.ext4'),
    workDir: path.join(tmp.dir, 'work'),
    agentBundle: agentBundle(),
    sizeMiB: 256,
  });
  const tree = path.join(tmp.dir, 'tree');
  await unpackImage(image.path, tree);
  const initramfs = path.join(tmp.dir, 'initramfs.cpio');
  packInitramfs(tree, initramfs, {
    epoch: 1704067200,
    devices: [{ path: '/dev/console', type: 'c', major: 5, minor: 1, mode: 0o600 }],
  });
  const result = await bootUnderQemu({ kernel: kernel!, initramfs, timeoutMs: 300_000 });
  console.log(`qemu: ${path.basename(kernel!)} booted to the agent's ready line in ${result.readyMs} ms (TCG)`);
  assert.match(result.console, 'Run /sbin/init as init process');
  assert.match(result.console, 'ignition-agent ready');
  assert.not.match(result.console, 'ignition-init: cannot exec');
});

test.run();
