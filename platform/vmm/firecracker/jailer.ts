/**
 * Jailer mode: Firecracker started through `jailer`, which copies the binary into a chroot at
 * `<chrootBase>/<exec name>/<id>/root`, joins cgroups and a network namespace, drops to uid/gid and
 * execs Firecracker inside. Everything Firecracker opens must then be visible inside that root, so
 * the layout stages files by hard link (same inode: the registry's memory file is never copied)
 * and the API socket is `<root>/run/firecracker.socket`.
 *
 * Pure argument building lives here so it can be tested without root; the launcher runs it.
 */
import path from 'node:path';
import { FcConfigInvalid } from './errors.ts';

export interface JailerOptions {
  /** Path of the `jailer` binary. */
  binary: string;
  uid: number;
  gid: number;
  /** Default `/srv/jailer`. */
  chrootBaseDir?: string;
  /** cgroup version; Ignition defaults to 2. */
  cgroupVersion?: 1 | 2;
  /** `--cgroup <file>=<value>` entries, e.g. `memory.max=268435456`. */
  cgroups?: string[];
  /** Network namespace path to join (e.g. /var/run/netns/ign3). */
  netns?: string;
  /** Run Firecracker in a new PID namespace (then killing the jailer kills Firecracker). */
  newPidNs?: boolean;
}

/** jailer ids allow alphanumerics and `-` only, 1–64 chars; Ignition ids use `_`. */
export function jailerId(vmId: string): string {
  const id = vmId.replace(/_/g, '-');
  if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) {
    throw FcConfigInvalid(`VM id "${vmId}" cannot be used as a jailer id (alphanumerics and "-", at most 64 characters)`);
  }
  return id;
}

/** The chroot root the jailer will create for `vmId`. */
export function jailRoot(options: JailerOptions, firecrackerBinary: string, vmId: string): string {
  const base = options.chrootBaseDir ?? '/srv/jailer';
  return path.join(base, path.basename(firecrackerBinary), jailerId(vmId), 'root');
}

/** The jailer command line; arguments after `--` go to Firecracker. */
export function jailerArgs(options: JailerOptions, firecrackerBinary: string, vmId: string, firecrackerArgs: string[]): string[] {
  if (!Number.isInteger(options.uid) || !Number.isInteger(options.gid)) {
    throw FcConfigInvalid('jailer mode needs integer uid and gid');
  }
  const args = [
    '--id',
    jailerId(vmId),
    '--exec-file',
    firecrackerBinary,
    '--uid',
    String(options.uid),
    '--gid',
    String(options.gid),
    '--chroot-base-dir',
    options.chrootBaseDir ?? '/srv/jailer',
    '--cgroup-version',
    String(options.cgroupVersion ?? 2),
  ];
  for (const c of options.cgroups ?? []) args.push('--cgroup', c);
  if (options.netns) args.push('--netns', options.netns);
  if (options.newPidNs) args.push('--new-pid-ns');
  return [...args, '--', ...firecrackerArgs];
}
