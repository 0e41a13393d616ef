/**
 * NetworkService: the facade the daemon uses. `acquire(vmId, policy)` hands a VM a network slot
 * (a clone slot from the pool, or a TAP on the bridge for plain VMs), `release(vmId)` takes it
 * back, `list()` shows slots, leases and holders, `reconcile(liveVmIds)` cleans up after a crash,
 * `close()` stops.
 *
 * Start-up: `NetworkService.open()` checks for `ip`/`nft`/`nsenter` and the needed capabilities
 * (typed `net_tools_missing` / `net_not_permitted`: the daemon then runs without networking),
 * validates the configuration and installs the host nft table; then the daemon calls
 * `reconcile(liveVmIds)` once it knows which VMs survived, which also starts filling the pool.
 * Ordering invariant: a slot's database row always exists before any of its host resources and
 * is deleted only after they are gone, so the database is a superset of what is on the host and
 * reconciliation can remove any namespace or link of ours that has no row.
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { NetClosed, NetInvalidConfig, NetInvalidPolicy } from './errors.ts';
import { type HostShell, checkHostTools, createHostShell, listHostLinks } from './host.ts';
import { Ipam, type SlotKind, type SlotRow, type SlotState } from './ipam.ts';
import { applyNetworkMigrations } from './schema.ts';
import { SlotPool, abandon } from './pool.ts';
import { SlotHost } from './setup.ts';
import {
  type NetworkConfig,
  type NetworkConfigInput,
  type SlotPolicy,
  type SlotPolicyInput,
  bridgeLayout,
  resolveNetworkConfig,
  resolvePolicy,
  slotLayout,
} from './slot.ts';
import { type NetworkLease, type SlotView, leaseView, slotView } from './views.ts';

export type { NetworkLease, SlotView } from './views.ts';

/** Structured log sink (the daemon passes its JSON logger); the default drops everything. */
export type SetupLog = (entry: Record<string, unknown>) => void;

export interface NetworkServiceOptions {
  db: Database.Database;
  config?: NetworkConfigInput;
  /** Clone slots kept ready. Default 4. */
  poolSize?: number;
  /** Run host-side commands in this namespace instead of the real host (tests, development). */
  hostNetns?: string;
  /** Replaces the shell runner (tests wrap the real one to inject failures). */
  shell?: HostShell;
  log?: SetupLog;
}

export interface NetworkListing {
  slots: SlotView[];
  leases: NetworkLease[];
  pool: { size: number; ready: number; creating: number };
  capacity: { clone: number; bridge: number };
  /** The name servers functions with network resolve through (dns.ts); empty when none is reachable. */
  dns: string[];
}

export interface ReconcileReport {
  /** VMs whose leases were released because they no longer exist. */
  releasedLeases: Array<{ vmId: string; kind: SlotKind; slot: number }>;
  /** Half-created or half-destroyed slots of a crashed run that were torn down. */
  staleSlots: Array<{ kind: SlotKind; slot: number; state: SlotState }>;
  /** Pool slots the database knew but the host had lost (e.g. after a reboot), dropped. */
  lostSlots: number[];
  /** Leases of live VMs whose host resources are missing: their networking is broken. */
  brokenLeases: Array<{ vmId: string; kind: SlotKind; slot: number }>;
  removedNamespaces: string[];
  removedLinks: string[];
}

export interface AcquireOptions extends SlotPolicyInput {
  /** `clone` (default): a namespace slot; `bridge`: a TAP on the bridge, for plain VMs. */
  mode?: SlotKind;
}

export class NetworkService {
  readonly config: NetworkConfig;
  readonly #ipam: Ipam;
  readonly #host: SlotHost;
  readonly #pool: SlotPool;
  readonly #owner = `net-${randomUUID()}`;
  readonly #log: SetupLog;
  readonly #defaults: SlotPolicy;
  #closed = false;

  private constructor(config: NetworkConfig, ipam: Ipam, host: SlotHost, poolSize: number, log: SetupLog) {
    this.config = config;
    this.#ipam = ipam;
    this.#host = host;
    this.#log = log;
    this.#defaults = resolvePolicy(config);
    this.#pool = new SlotPool({ ipam, host, owner: this.#owner, size: poolSize, policy: this.#defaults, log });
  }

  /** Checks tools and permissions, validates the configuration, prepares the host. */
  static async open(o: NetworkServiceOptions): Promise<NetworkService> {
    const config = resolveNetworkConfig(o.config);
    if (!o.shell) checkHostTools();
    applyNetworkMigrations(o.db); // idempotent; the platform store normally applied them already
    const ipam = new Ipam(o.db, { clone: config.capacity, bridge: config.bridgeCapacity });
    const host = new SlotHost(config, o.shell ?? createHostShell({ hostNetns: o.hostNetns }));
    const poolSize = o.poolSize ?? 4;
    if (!Number.isInteger(poolSize) || poolSize < 0 || poolSize > config.capacity) {
      throw NetInvalidConfig(`poolSize ${poolSize} must be between 0 and ${config.capacity}.`);
    }
    const service = new NetworkService(config, ipam, host, poolSize, o.log ?? (() => {}));
    await host.ensureHost(service.#bridgeEgress());
    return service;
  }

  /**
   * Gives `vmId` a network. Clone mode takes a ready slot from the pool (one UPDATE, plus one
   * script if the policy differs from the defaults) or creates one on the spot when the pool is
   * empty. Throws `net_lease_exists` if the VM holds one, `net_exhausted` when none is left.
   */
  async acquire(vmId: string, opts: AcquireOptions = {}): Promise<NetworkLease> {
    this.#open();
    const mode = opts.mode ?? 'clone';
    if (mode !== 'clone' && mode !== 'bridge') throw NetInvalidPolicy(`network mode "${String(mode)}" is neither clone nor bridge.`);
    const policy = resolvePolicy(this.config, opts);
    if (mode === 'bridge') return this.#acquireBridge(vmId, policy);

    const pooled = this.#ipam.takeReady('clone', vmId);
    // Refill after this acquire is done, so its own script does not compete with a set-up.
    try {
      return await this.#acquireClone(vmId, policy, pooled);
    } finally {
      void this.#pool.refill();
    }
  }

  async #acquireClone(vmId: string, policy: SlotPolicy, pooled: SlotRow | null): Promise<NetworkLease> {
    if (pooled) {
      try {
        await this.#host.applyPolicy(pooled.slot, pooled.policy, policy);
      } catch (err) {
        this.#ipam.markDestroying('clone', pooled.slot);
        await this.#host.destroySlot(pooled.slot).then(
          () => this.#ipam.free('clone', pooled.slot),
          () => {},
        );
        throw err;
      }
      this.#ipam.setPolicy('clone', pooled.slot, policy);
      this.#log({ event: 'net.acquire', vmId, slot: pooled.slot, from: 'pool' });
      return leaseView(this.config, this.#defaults, this.#ipam.get('clone', pooled.slot)!);
    }
    const row = this.#ipam.reserve('clone', this.#owner, vmId);
    try {
      await this.#host.createSlot(row.slot, policy);
    } catch (err) {
      abandon(this.#ipam, 'clone', row.slot, err);
      throw err;
    }
    this.#ipam.markCreated('clone', row.slot, policy);
    this.#log({ event: 'net.acquire', vmId, slot: row.slot, from: 'created' });
    return leaseView(this.config, this.#defaults, this.#ipam.get('clone', row.slot)!);
  }

  /** Moves `from`'s lease to `to` unchanged (see Ipam.transfer); null when `from` held none. */
  transfer(from: string, to: string): NetworkLease | null {
    this.#open();
    const row = this.#ipam.transfer(from, to);
    if (!row) return null;
    this.#log({ event: 'net.transfer', from, to, kind: row.kind, slot: row.slot });
    return leaseView(this.config, this.#defaults, row);
  }

  /** Takes the network back from `vmId` and tears the slot down. False when it held none. */
  async release(vmId: string): Promise<boolean> {
    const row = this.#ipam.byVm(vmId);
    if (!row) return false;
    this.#ipam.markDestroying(row.kind, row.slot);
    await this.#destroy(row.kind, row.slot);
    this.#ipam.free(row.kind, row.slot);
    this.#log({ event: 'net.release', vmId, kind: row.kind, slot: row.slot });
    if (!this.#closed) void this.#pool.refill();
    return true;
  }

  /** The lease `vmId` holds, or null. */
  leaseOf(vmId: string): NetworkLease | null {
    const row = this.#ipam.byVm(vmId);
    return row && row.state === 'leased' ? leaseView(this.config, this.#defaults, row) : null;
  }

  list(): NetworkListing {
    const rows = this.#ipam.list();
    return {
      slots: rows.map((r) => slotView(this.config, r)),
      leases: rows.filter((r) => r.state === 'leased').map((r) => leaseView(this.config, this.#defaults, r)),
      pool: { size: this.#pool.size, ready: this.#ipam.count('clone', 'ready'), creating: this.#pool.creating },
      capacity: { clone: this.config.capacity, bridge: this.config.bridgeCapacity },
      dns: [...this.config.dns],
    };
  }

  /**
   * Start-up clean-up: releases leases of VMs not in `liveVmIds`, finishes half-done slots of a
   * crashed run, drops pool slots the host lost, removes namespaces and links of ours that no row
   * accounts for, rewrites the host nft table, and starts filling the pool. Meant for start-up,
   * before the first acquire (it may run later while the service is idle).
   */
  async reconcile(liveVmIds: Iterable<string>): Promise<ReconcileReport> {
    this.#open();
    const report: ReconcileReport = { releasedLeases: [], staleSlots: [], lostSlots: [], brokenLeases: [], removedNamespaces: [], removedLinks: [] };
    for (const r of this.#ipam.reclaim(liveVmIds)) {
      await this.#destroy(r.kind, r.slot);
      this.#ipam.free(r.kind, r.slot);
      report.releasedLeases.push({ vmId: r.vmId!, kind: r.kind, slot: r.slot });
    }
    for (const r of this.#ipam.staleRows(this.#owner)) {
      await this.#destroy(r.kind, r.slot);
      this.#ipam.free(r.kind, r.slot);
      report.staleSlots.push({ kind: r.kind, slot: r.slot, state: r.state });
    }
    // Rows that claim a slot the host does not have (a reboot wipes namespaces and links).
    const present = this.#host.presentSlots();
    const links = new Set(await listHostLinks(this.#host.shell));
    for (const r of this.#ipam.list()) {
      if (r.state === 'creating' && r.owner === this.#owner) continue; // being created right now
      const there =
        r.kind === 'clone' ? present.has(r.slot) && links.has(slotLayout(this.config, r.slot).hostVeth) : links.has(bridgeLayout(this.config, r.slot).tap);
      if (there) {
        if (r.owner !== this.#owner) this.#ipam.adopt(r.kind, r.slot, this.#owner);
      } else if (r.state === 'ready') {
        this.#ipam.markDestroying(r.kind, r.slot);
        await this.#destroy(r.kind, r.slot); // remove any half that is left
        this.#ipam.free(r.kind, r.slot);
        report.lostSlots.push(r.slot);
      } else if (r.state === 'leased') {
        report.brokenLeases.push({ vmId: r.vmId!, kind: r.kind, slot: r.slot });
      }
    }
    const left = await this.#host.removeLeftovers(() => {
      const keep = { clone: new Set<number>(), bridge: new Set<number>() };
      for (const r of this.#ipam.list()) keep[r.kind].add(r.slot);
      return keep;
    });
    report.removedNamespaces = left.namespaces;
    report.removedLinks = left.links;
    await this.#host.ensureHost(this.#bridgeEgress());
    this.#log({ event: 'net.reconcile', ...report });
    void this.#pool.refill();
    return report;
  }

  /** The namespace standing in for the host (tests, development), or undefined for the real one. */
  get hostNetns(): string | undefined {
    return this.#host.shell.hostNetns;
  }

  /** Waits until the pool has finished its current refill round (tests, bench). */
  async poolSettled(): Promise<void> {
    await this.#pool.settled();
  }

  /**
   * Stops: no more acquires, refills end, and the ready pool slots are torn down. Leased slots
   * stay (their VMs may outlive the daemon; the next start reconciles them). `purge` also removes
   * leased slots, the bridge and the host nft table: nothing of ours is left. Idempotent.
   */
  async close(opts: { purge?: boolean } = {}): Promise<void> {
    this.#closed = true;
    await this.#pool.close();
    for (const r of this.#ipam.list()) {
      if (r.owner !== this.#owner && !opts.purge) continue;
      if (r.state === 'leased' && !opts.purge) continue;
      this.#ipam.markDestroying(r.kind, r.slot);
      await this.#destroy(r.kind, r.slot);
      this.#ipam.free(r.kind, r.slot);
    }
    if (opts.purge) await this.#host.purgeHost();
  }

  async #acquireBridge(vmId: string, policy: SlotPolicy): Promise<NetworkLease> {
    const row = this.#ipam.reserve('bridge', this.#owner, vmId);
    // On a shared bridge the MAC must be unique: the slot's derived MAC unless one was asked for.
    const mac = policy.mac === this.config.guestMac ? bridgeLayout(this.config, row.slot).guestMac : policy.mac;
    const applied = { ...policy, mac };
    try {
      await this.#host.createBridgeTap(row.slot, applied);
    } catch (err) {
      abandon(this.#ipam, 'bridge', row.slot, err);
      throw err;
    }
    this.#ipam.markCreated('bridge', row.slot, applied);
    this.#log({ event: 'net.acquire', vmId, slot: row.slot, from: 'bridge' });
    return leaseView(this.config, this.#defaults, this.#ipam.get('bridge', row.slot)!);
  }

  #destroy(kind: SlotKind, slot: number): Promise<void> {
    return kind === 'clone' ? this.#host.destroySlot(slot) : this.#host.destroyBridgeTap(slot);
  }

  #bridgeEgress(): string[] {
    if (!this.config.bridgeSubnet) return [];
    return this.#ipam
      .list('bridge')
      .filter((r) => r.policy?.egress)
      .map((r) => bridgeLayout(this.config, r.slot).guestIp);
  }

  #open(): void {
    if (this.#closed) throw NetClosed('the network service is closed.');
  }
}
