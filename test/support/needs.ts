/**
 * Test prerequisites that this host may lack. `missing(...)` returns null when every prerequisite
 * is met, or what is missing and the exact command that would un-skip the test; hand it to
 * `skipUnless` (skip.ts), which registers the test as skipped and says so:
 *
 *   const it = skipUnless(missing('root', 'bwrap'));
 *   it('a remount of /usr fails', async () => { … });
 *
 * `needs(...)` is the same as one string, for files that still print it with `reportSkip`.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export type Need = 'root' | 'kvm' | 'bwrap' | 'ip' | 'nft' | 'util-linux' | 'docker-registry' | 'firecracker' | 'qemu' | 'mke2fs' | 'debugfs' | 'xfs';

/** Why a test cannot run here, and the shell command that would make it run. */
export interface Lack {
  reason: string;
  fix: string;
}

/** One unmet prerequisite: what it is, the step that provides it, whether the test must run as root. */
interface Gap {
  reason: string;
  step?: string;
  root?: boolean;
}

function onPath(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Exact for this host: an ordinary user installs through sudo.
const apt = (pkg: string) => `${process.getuid?.() === 0 ? '' : 'sudo '}apt-get install -y ${pkg}`;

const checks: Record<Need, () => Gap | null> = {
  root: () => (process.getuid?.() === 0 ? null : { reason: 'needs root', root: true }),
  kvm: () => {
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
      return null;
    } catch {
      // No command makes KVM appear on a host without it; loading the module is the one step that can.
      return { reason: 'needs /dev/kvm (a host with KVM, or nested virtualisation enabled)', step: 'modprobe kvm_intel || modprobe kvm_amd' };
    }
  },
  bwrap: () => (onPath('bwrap') ? null : { reason: 'needs bubblewrap', step: apt('bubblewrap') }),
  ip: () => (onPath('ip') ? null : { reason: 'needs ip', step: apt('iproute2') }),
  nft: () => (onPath('nft') ? null : { reason: 'needs nft', step: apt('nftables') }),
  'util-linux': () => (onPath('nsenter') && onPath('setpriv') ? null : { reason: 'needs nsenter and setpriv', step: apt('util-linux') }),
  'docker-registry': () => (onPath('docker-registry') ? null : { reason: 'needs an OCI registry (docker-registry)', step: apt('docker-registry') }),
  firecracker: () =>
    onPath('firecracker') || existsSync(process.env.IGNITION_FIRECRACKER_BIN ?? '/nonexistent')
      ? null
      : { reason: 'needs the firecracker binary (or IGNITION_FIRECRACKER_BIN)', step: 'scripts/fetch-assets.sh' },
  qemu: () => (onPath('qemu-system-x86_64') ? null : { reason: 'needs QEMU', step: apt('qemu-system-x86') }),
  mke2fs: () => (onPath('mke2fs') ? null : { reason: 'needs mke2fs', step: apt('e2fsprogs') }),
  debugfs: () => (onPath('debugfs') ? null : { reason: 'needs debugfs', step: apt('e2fsprogs') }),
  xfs: () => (onPath('mkfs.xfs') ? null : { reason: 'needs mkfs.xfs', step: apt('xfsprogs') }),
};

/** The test file this process runs, relative to the working directory (the repository root under npm test). */
export function testFile(): string {
  const main = process.argv[1];
  return main ? path.relative(process.cwd(), main) || main : 'the test file';
}

/** The command that runs this test file again, as root when `root`. */
export function rerun(root = false): string {
  return `${root ? 'sudo ' : ''}node --import tsx ${testFile()}`;
}

export function missing(...what: Need[]): Lack | null {
  const gaps = what.map((w) => checks[w]()).filter((g): g is Gap => g !== null);
  if (!gaps.length) return null;
  const steps = [...new Set(gaps.flatMap((g) => (g.step ? [g.step] : [])))];
  return { reason: gaps.map((g) => g.reason).join('; '), fix: [...steps, rerun(gaps.some((g) => g.root))].join(' && ') };
}

export function needs(...what: Need[]): string | null {
  const lack = missing(...what);
  return lack && `${lack.reason}: ${lack.fix}`;
}

/** Prints a file-wide skip reason in the form scripts/run-tests.ts collects (prefer skipUnless). */
export function reportSkip(file: string, reason: string | null): void {
  if (reason) console.log(`SKIP ${file}: ${reason}`);
}
