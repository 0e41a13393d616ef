/**
 * The driver's options: a plain object the composition root fills from the platform config.
 * Defaults are chosen for a KVM host running the real binary; tests against the fake raise the
 * deadlines because a busy CI machine starts Node processes slowly.
 */
import type { LogLevel } from './api/types.ts';
import type { JailerOptions } from './jailer.ts';
import type { StepEvent } from './steps.ts';

/** A TAP device handed to one VM by the network capability, released when the VM stops. */
export interface NetworkAttachment {
  /** Guest interface id (Firecracker resource id), e.g. `eth0`. */
  ifaceId: string;
  /** Host TAP name, < 16 bytes. */
  hostDevName: string;
  guestMac?: string;
  release(): void | Promise<void>;
}

/** Optional collaborator: allocates a network slot (TAP, addresses, NAT) per VM. */
export interface NetworkProvider {
  attach(vmId: string): Promise<NetworkAttachment>;
}

export interface FirecrackerDriverOptions {
  /** Path of the `firecracker` binary (or a compatible emulator). */
  binary: string;
  /** Default guest kernel (uncompressed vmlinux on x86_64); `BootSpec.image.kernel` overrides it. */
  kernel: string;
  /** Default root filesystem image; `BootSpec.image.rootfs` overrides it. Cloned per VM, never written. */
  rootfs: string;
  /** Where fork clones and fork snapshots go when the caller does not say (default: beside the source). */
  workspacesDir?: string;
  jailer?: JailerOptions;
  /** Per API call deadline (default 10 s; snapshot calls get more). */
  apiTimeoutMs?: number;
  /** Kernel command line; replaces Firecracker's default entirely. */
  bootArgs?: string;
  /** Deadline for the API socket to answer after spawn (default 5 s). */
  startTimeoutMs?: number;
  /** Deadline for the agent's health after boot (default 30 s) and after restore (default 10 s). */
  bootAgentTimeoutMs?: number;
  restoreAgentTimeoutMs?: number;
  /** Guest CID of the vsock device (default 3). */
  guestCid?: number;
  logLevel?: LogLevel;
  /** Extra environment for each VMM process. */
  env?: Record<string, string>;
  network?: NetworkProvider;
  /**
   * Firecracker processes kept spawned and API-ready ahead of demand (see spares.ts): a restore
   * adopts one instead of starting a process. Direct mode only (ignored with the jailer). Default 0.
   */
  spares?: number;
  /** Driver-level events worth a log line (spare VMM failures). */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Called after every boot/restore/snapshot step, for logs and metrics. */
  onStep?: (event: StepEvent & { vmId: string; flow: string }) => void;
}

/** Firecracker's getting-started command line (serial console on, reboot exits the VMM). */
export const DEFAULT_BOOT_ARGS = 'console=ttyS0 reboot=k panic=1 pci=off';

export type ResolvedOptions = Required<
  Pick<
    FirecrackerDriverOptions,
    'binary' | 'kernel' | 'rootfs' | 'apiTimeoutMs' | 'bootArgs' | 'startTimeoutMs' | 'bootAgentTimeoutMs' | 'restoreAgentTimeoutMs' | 'guestCid' | 'logLevel'
  >
> &
  FirecrackerDriverOptions;

export function resolveOptions(o: FirecrackerDriverOptions): ResolvedOptions {
  return {
    ...o,
    apiTimeoutMs: o.apiTimeoutMs ?? 10_000,
    bootArgs: o.bootArgs ?? DEFAULT_BOOT_ARGS,
    startTimeoutMs: o.startTimeoutMs ?? 5_000,
    bootAgentTimeoutMs: o.bootAgentTimeoutMs ?? 30_000,
    restoreAgentTimeoutMs: o.restoreAgentTimeoutMs ?? 10_000,
    guestCid: o.guestCid ?? 3,
    logLevel: o.logLevel ?? 'Info',
  };
}
