/**
 * Which command starts a VMM, and in which network namespace. A VM in a clone slot must run inside
 * the slot's namespace, because that is where its TAP lives (the same name in every slot), so
 * Firecracker opens the slot's TAP and not one of the same name elsewhere:
 *
 *   jailer:     jailer … --netns <path> -- <firecracker args>   (the jailer joins it itself)
 *   direct:     nsenter --net=<path> -- <firecracker> <args>     (setns, then exec: same pid)
 *   no slot:    <firecracker> <args>
 *
 * Why nsenter and not `ip netns exec`: both exec in place, but `ip netns exec` also unshares a
 * mount namespace and remounts /sys, which costs more per start (measured in docs/NETWORKING.md)
 * and gives the VMM a private view of mounts it does not need. nsenter comes with util-linux.
 *
 * Pure argument building lives here so it is tested without root; process.ts runs it.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { FcBinaryMissing, FcConfigInvalid } from './errors.ts';
import { jailerArgs, jailerId, type JailerOptions } from './jailer.ts';

export interface VmmCommandOptions {
  binary: string;
  vmId: string;
  jailer?: JailerOptions;
  /** Path of the network namespace to run in (a slot's `/run/netns/<name>`). */
  netns?: string;
  /** The nsenter to use when `netns` is given without the jailer. */
  nsenter?: string;
}

/** The program and arguments that start Firecracker with `firecrackerArgs` for one VM. */
export function vmmCommand(o: VmmCommandOptions, firecrackerArgs: string[]): { file: string; args: string[] } {
  if (o.jailer) {
    // A slot's namespace is the VM's own and wins over a namespace configured for every VM.
    const jailer = o.netns ? { ...o.jailer, netns: o.netns } : o.jailer;
    return { file: o.jailer.binary, args: jailerArgs(jailer, o.binary, o.vmId, firecrackerArgs) };
  }
  const direct = ['--id', jailerId(o.vmId), ...firecrackerArgs];
  if (!o.netns) return { file: o.binary, args: direct };
  if (!path.isAbsolute(o.netns)) throw FcConfigInvalid(`network namespace path "${o.netns}" of VM ${o.vmId} is not absolute`);
  // `--` ends nsenter's options: everything after it is the program and its own arguments.
  return { file: o.nsenter ?? 'nsenter', args: [`--net=${o.netns}`, '--', o.binary, ...direct] };
}

/** The absolute path of nsenter on PATH; throws `fc_binary_missing` naming the package. */
export function findNsenter(searchPath = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): string {
  for (const dir of searchPath.split(':')) {
    const file = path.join(dir || '.', 'nsenter');
    try {
      accessSync(file, constants.X_OK);
      return path.resolve(file);
    } catch {
      // next directory
    }
  }
  throw FcBinaryMissing('nsenter is not on PATH; it starts Firecracker inside a network slot without the jailer: apt-get install -y util-linux', {
    data: { path: 'nsenter', package: 'util-linux' },
  });
}

/** Throws `fc_config_invalid` unless the namespace file exists (a slot torn down meanwhile, say). */
export function checkNetns(netns: string, vmId: string): void {
  if (!existsSync(netns)) {
    throw FcConfigInvalid(`network namespace ${netns} of VM ${vmId} does not exist (was its slot torn down?)`, { data: { netns } });
  }
}
