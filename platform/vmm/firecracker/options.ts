/**
 * The driver's options: a plain object the composition root fills from the platform config.
 * Defaults are chosen for a KVM host running the real binary; tests against the fake raise the
 * deadlines because a busy CI machine starts Node processes slowly.
 */
import type { LogLevel } from './api/types.ts';
import type { JailerOptions } from './jailer.ts';
import type { StepEvent } from './steps.ts';
import { Spawner } from '../spawner.ts';

/** The guest's addressing on its network attachment (what the kernel command line or the agent sets). */
export interface GuestAddress {
  ip: string;
  /** Prefix length of the guest's subnet. */
  prefix: number;
  gateway: string;
  mac: string;
  mtu: number;
  /** Name servers for the guest's /etc/resolv.conf (at most two; platform/network/dns.ts). */
  dns?: readonly string[];
}

/**
 * A guest NIC's host side, handed to one VM by the network capability and released once its VMM
 * has exited. Two modes (docs/NETWORKING.md, "Which VM gets what"):
 *  - `slot`: a clone slot. The VMM runs inside the slot's network namespace, where the TAP has the
 *    same name and the guest the same address in every slot, so a restored clone keeps the address
 *    in its snapshot and only forgets its neighbours (the gateway's MAC differs per slot).
 *  - `bridge` (the default when `mode` is absent): a TAP of the VM's own with its own address. A
 *    restored clone wakes with the snapshot's address and is re-addressed to `guest` by the agent.
 */
export interface NetworkAttachment {
  /** Guest interface id (Firecracker resource id), e.g. `eth0`. */
  ifaceId: string;
  /** Host TAP name, < 16 bytes (in slot mode the same name in every slot). */
  hostDevName: string;
  guestMac?: string;
  mode?: 'slot' | 'bridge';
  /**
   * Path of the network namespace the VMM must run in, where `hostDevName` lives (a slot's
   * `/run/netns/<name>`): joined with `nsenter --net`, or `jailer --netns`. Absent: the daemon's own.
   */
  netns?: string;
  /** The guest's address: set at boot on the kernel command line, and after a bridge restore by the agent. */
  guest?: GuestAddress;
  release(): void | Promise<void>;
}

/** Optional collaborator: allocates a network slot (namespace, TAP, addresses, NAT) per VM. */
export interface NetworkProvider {
  attach(vmId: string): Promise<NetworkAttachment>;
  /**
   * Hands the network `from` holds to `to`, unchanged (a spare VMM started in a slot, adopted by a
   * VM: spares.ts); the returned attachment's release frees it for `to`. Optional: without it,
   * spares never hold a slot.
   */
  transfer?(from: string, to: string): NetworkAttachment;
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
  /** Spares that also hold a network slot, for VMs with network (needs `network` with `transfer`). Default 0. */
  networkSpares?: number;
  /**
   * Incremental (Diff) snapshots for machines whose spec asks for `incrementalSnapshots`: dirty
   * page tracking on, and a later snapshot is the previous memory file cloned plus a Diff merged
   * into it in place (see machine.ts). `auto` (the default) turns them on only where reflinks work
   * in `workspacesDir`: elsewhere cloning the previous memory file is a full copy, which costs what
   * a Full snapshot does. `on` forces them (a sparse copy of the base), `off` never.
   */
  diffSnapshots?: 'auto' | 'on' | 'off';
  /** Driver-level events worth a log line (spare VMM failures). */
  log?: (event: string, fields: Record<string, unknown>) => void;
  /** Called after every boot/restore/snapshot step, for logs and metrics. */
  onStep?: (event: StepEvent & { vmId: string; flow: string }) => void;
  /**
   * The launcher VMMs are spawned from (spawner.ts): a spawn from the daemon forks the whole daemon
   * and blocks its event loop until the exec. One of the driver's own by default.
   */
  spawner?: Spawner;
}

/** Whether `diffSnapshots` turns incremental snapshots on, given whether reflinks work. */
export function diffSnapshotsOn(setting: FirecrackerDriverOptions['diffSnapshots'] = 'auto', reflinks: boolean): boolean {
  return setting === 'on' || (setting === 'auto' && reflinks);
}

/** Firecracker's getting-started command line (serial console on, reboot exits the VMM). */
export const DEFAULT_BOOT_ARGS = 'console=ttyS0 reboot=k panic=1 pci=off';

export type ResolvedOptions = Required<
  Pick<
    FirecrackerDriverOptions,
    | 'binary'
    | 'kernel'
    | 'rootfs'
    | 'apiTimeoutMs'
    | 'bootArgs'
    | 'startTimeoutMs'
    | 'bootAgentTimeoutMs'
    | 'restoreAgentTimeoutMs'
    | 'guestCid'
    | 'logLevel'
    | 'spawner'
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
    // Started lazily on the first spawn, and it lets the process exit when no VMM runs.
    spawner: o.spawner ?? new Spawner(),
  };
}
