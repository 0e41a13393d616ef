/**
 * Wiring between the network capability and the rest of the daemon: opening
 * the service only where microVMs need it, the Firecracker driver's NetworkProvider, and the
 * `/v1/network` routes whether or not networking is on.
 *
 * With the process driver `auto` leaves the service closed, so a daemon never changes the host's
 * interfaces, routes and nft rules unasked: a sandbox without network has a namespace with only a
 * loopback, and one with network shares the host's. Turned on (`enabled: true`), the service
 * gives each sandbox with network a slot of its own, as it does a microVM (process/driver.ts).
 */
import path from 'node:path';
import { Hono } from 'hono';
import type Database from 'better-sqlite3';
import type { Logger } from '../log.ts';
import type { NetworkAttachment, NetworkProvider } from '../vmm/firecracker/options.ts';
import { NETNS_DIR } from './host.ts';
import type { SlotKind } from './ipam.ts';
import { NetworkService } from './service.ts';
import { networkRoutes } from './routes.ts';
import type { NetworkConfigInput } from './slot.ts';
import type { NetworkLease } from './views.ts';

export interface NetworkSettings extends NetworkConfigInput {
  /** `auto`: on with the Firecracker driver, off with the process driver. */
  enabled?: 'auto' | boolean;
  /** Clone slots created ahead of demand. */
  poolSize?: number;
}

export interface NetworkState {
  service: NetworkService | null;
  reason: string;
}

export async function openNetwork(opts: {
  driver: string;
  settings: NetworkSettings;
  db: Database.Database;
  logger: Logger;
  liveVmIds: string[];
}): Promise<NetworkState> {
  const enabled = opts.settings.enabled ?? 'auto';
  if (enabled === false) return { service: null, reason: 'disabled by configuration (network.enabled = false)' };
  if (enabled === 'auto' && opts.driver !== 'firecracker') return { service: null, reason: `the ${opts.driver} driver needs no host networking` };
  const { enabled: _e, poolSize, ...config } = opts.settings;
  try {
    const service = await NetworkService.open({ db: opts.db, config, poolSize, log: (e) => opts.logger.debug('network', e) });
    const report = await service.reconcile(opts.liveVmIds);
    if (report.releasedLeases.length || report.staleSlots.length) opts.logger.info('network reconciled', { ...report });
    return { service, reason: 'on' };
  } catch (err) {
    // Missing tools or privileges: VMs still run, without networking; say why everywhere.
    opts.logger.warn('host networking unavailable', { err });
    return { service: null, reason: (err as Error).message };
  }
}

export interface ProviderOptions {
  /**
   * `clone` (default): every VM, booted or restored, runs in a clone slot of its own. `bridge`:
   * every VM gets a TAP on the bridge, and a restored clone is re-addressed by its agent.
   */
  mode?: SlotKind;
}

/**
 * The Firecracker driver's NetworkProvider. By default every VM with network, booted or restored,
 * gets a clone slot: a build VM then boots with the slot's guest address (the same in every slot),
 * so its golden snapshot wakes in any other slot with the right address and only flushes its
 * neighbours. See docs/NETWORKING.md, "Which VM gets what".
 */
export function networkProvider(state: () => NetworkService | null, opts: ProviderOptions = {}): NetworkProvider {
  const mode = opts.mode ?? 'clone';
  return {
    async attach(vmId: string) {
      const svc = state();
      if (!svc) throw new Error('host networking is not available on this daemon (see GET /v1/network)');
      const lease = await svc.acquire(vmId, { mode });
      return attachmentOf(lease, svc.hostNetns, () => svc.release(vmId), svc.config.dns);
    },
    transfer(from: string, to: string) {
      const svc = state();
      const lease = svc?.transfer(from, to);
      if (!svc || !lease) throw new Error(`VM ${from} holds no network lease to hand to ${to}`);
      return attachmentOf(lease, svc.hostNetns, () => svc.release(to), svc.config.dns);
    },
  };
}

/**
 * What the VMM driver needs from a lease. A clone slot's TAP lives in the slot's namespace; a
 * bridge TAP lives in "the host", which is the daemon's own namespace, or `hostNetns` when a
 * namespace stands in for the host (tests, development).
 */
export function attachmentOf(
  lease: NetworkLease,
  hostNetns: string | undefined,
  release: () => Promise<unknown>,
  dns: readonly string[] = [],
): NetworkAttachment {
  const netns = lease.netns ?? hostNetns;
  return {
    ifaceId: 'eth0',
    hostDevName: lease.tap,
    guestMac: lease.guest.mac,
    mode: lease.kind === 'clone' ? 'slot' : 'bridge',
    ...(netns ? { netns: path.join(NETNS_DIR, netns) } : {}),
    guest: { ...lease.guest, dns },
    // Awaited: when a VM's stop or destroy returns, its slot and lease are gone.
    release: async () => void (await release()),
  };
}

export function networkApi(state: NetworkState): Hono {
  if (state.service) return networkRoutes(state.service);
  const app = new Hono();
  app.get('/', (c) => c.json({ enabled: false, reason: state.reason, slots: [], leases: [] }));
  return app;
}
