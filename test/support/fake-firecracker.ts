/**
 * A daemon on the Firecracker driver against the fake Firecracker (test/fakes/firecracker): the
 * stand-in kernel and root disk the fake opens, and the daemon environment that points at them.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './daemon.ts';

/** Writes the stand-in assets into `assets`; returns the daemon's environment for them. */
export function fakeFirecrackerEnv(assets: string, trace: string): Record<string, string> {
  writeFileSync(path.join(assets, 'vmlinux'), 'stand-in kernel: the fake only opens it');
  writeFileSync(path.join(assets, 'rootfs.ext4'), '');
  truncateSync(path.join(assets, 'rootfs.ext4'), 8 * 1024 * 1024);
  return {
    IGNITION_DRIVER: 'firecracker',
    IGNITION_FIRECRACKER_SKIP_KVM_CHECK: '1',
    IGNITION_FIRECRACKER_BIN: path.join(ROOT, 'test/fakes/firecracker/firecracker'),
    IGNITION_KERNEL: path.join(assets, 'vmlinux'),
    IGNITION_ROOTFS: path.join(assets, 'rootfs.ext4'),
    IGNITION_FC_TRACE: trace,
    // Host networking would change this machine's own interfaces and nft rules; tests never do.
    IGNITION_NETWORK: 'off',
    // The fake starts through tsx, far slower than the real binary on a loaded machine.
    IGNITION_FIRECRACKER_START_TIMEOUT_MS: '60000',
  };
}
