/**
 * What the live Firecracker tests need, and the exact fix when something is missing: /dev/kvm,
 * the firecracker binary (IGNITION_FIRECRACKER_BIN or on PATH), a guest kernel (IGNITION_KERNEL)
 * and a base image whose init starts the agent on vsock port 52 (IGNITION_ROOTFS). Defaults are
 * the install locations of scripts/fetch-assets.sh and the image builder.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { needs } from '../support/needs.ts';

export interface LiveAssets {
  binary: string;
  kernel: string;
  rootfs: string;
}

function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

export function liveAssets(): LiveAssets {
  return {
    binary: process.env.IGNITION_FIRECRACKER_BIN ?? which('firecracker') ?? '/var/lib/ignition/assets/firecracker',
    kernel: process.env.IGNITION_KERNEL ?? '/var/lib/ignition/assets/vmlinux',
    rootfs: process.env.IGNITION_ROOTFS ?? '/var/lib/ignition/assets/rootfs.ext4',
  };
}

/** Null when the live Firecracker tests can run, else why not and how to fix it. */
export function liveSkipReason(...extra: Parameters<typeof needs>): string | null {
  const reasons: string[] = [];
  const base = needs('kvm', ...extra);
  if (base) reasons.push(base);
  const a = liveAssets();
  if (!existsSync(a.binary)) reasons.push(`needs the firecracker binary at ${a.binary}: sudo scripts/fetch-assets.sh (or set IGNITION_FIRECRACKER_BIN)`);
  if (!existsSync(a.kernel)) reasons.push(`needs a guest kernel at ${a.kernel}: sudo scripts/fetch-assets.sh (or set IGNITION_KERNEL)`);
  if (!existsSync(a.rootfs)) {
    reasons.push(
      `needs a base image with the agent at ${a.rootfs}: npm run build && node --import tsx scripts/image/build.ts --out ${a.rootfs} (or set IGNITION_ROOTFS)`,
    );
  }
  return reasons.length ? reasons.join('; ') : null;
}
