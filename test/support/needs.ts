/**
 * Test prerequisites that this host may lack. `needs(...)` returns null when every prerequisite is
 * met, or a message naming what is missing and the exact command that would un-skip the test.
 * Use with uvu: `const skip = needs('root'); (skip ? test.skip : test)('name', …)` and call
 * `reportSkip(skip)` once so the reason reaches the test log (scripts/run-tests.ts shows SKIP lines).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export type Need = 'root' | 'kvm' | 'bwrap' | 'ip' | 'nft' | 'docker-registry' | 'firecracker' | 'qemu' | 'mke2fs' | 'debugfs' | 'xfs';

function onPath(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const checks: Record<Need, () => string | null> = {
  root: () => (process.getuid?.() === 0 ? null : 'needs root: run the tests as root (sudo npm test)'),
  kvm: () => {
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
      return null;
    } catch {
      return 'needs /dev/kvm: run on a host with KVM (or nested virtualisation enabled)';
    }
  },
  bwrap: () => (onPath('bwrap') ? null : 'needs bubblewrap: apt-get install -y bubblewrap'),
  ip: () => (onPath('ip') ? null : 'needs ip: apt-get install -y iproute2'),
  nft: () => (onPath('nft') ? null : 'needs nft: apt-get install -y nftables'),
  'docker-registry': () => (onPath('docker-registry') ? null : 'needs an OCI registry: apt-get install -y docker-registry'),
  firecracker: () =>
    onPath('firecracker') || existsSync(process.env.IGNITION_FIRECRACKER_BIN ?? '/nonexistent')
      ? null
      : 'needs the firecracker binary: scripts/fetch-assets.sh (or set IGNITION_FIRECRACKER_BIN)',
  qemu: () => (onPath('qemu-system-x86_64') ? null : 'needs QEMU: apt-get install -y qemu-system-x86'),
  mke2fs: () => (onPath('mke2fs') ? null : 'needs mke2fs: apt-get install -y e2fsprogs'),
  debugfs: () => (onPath('debugfs') ? null : 'needs debugfs: apt-get install -y e2fsprogs'),
  xfs: () => (onPath('mkfs.xfs') ? null : 'needs mkfs.xfs: apt-get install -y xfsprogs'),
};

export function needs(...what: Need[]): string | null {
  const missing = what.map((w) => checks[w]()).filter((m): m is string => m !== null);
  return missing.length ? missing.join('; ') : null;
}

/** Prints the skip reason in the form scripts/run-tests.ts surfaces. */
export function reportSkip(file: string, reason: string | null): void {
  if (reason) console.log(`SKIP ${file}: ${reason}`);
}
