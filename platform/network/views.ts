/**
 * Read models of the network capability: what a lease tells the VMM driver, and what a slot looks
 * like in `/v1/network`. Pure functions of a database row and slot.ts.
 */
import type { SlotKind, SlotRow, SlotState } from './ipam.ts';
import { type NetworkConfig, type SlotPolicy, bridgeLayout, slotLayout } from './slot.ts';

/** What a VM needs to know about its network; handed to the VMM driver. */
export interface NetworkLease {
  vmId: string;
  kind: SlotKind;
  slot: number;
  /** Namespace to run the VMM in (`jailer --netns /run/netns/<netns>`); null in bridge mode. */
  netns: string | null;
  /** TAP the VMM attaches the guest NIC to (host_dev_name). */
  tap: string;
  guest: { ip: string; prefix: number; gateway: string; mac: string; mtu: number };
  /** Where the host reaches the guest: the clone address, or the guest IP on the bridge. */
  address: string;
  policy: SlotPolicy;
  leasedAt: number;
}

/** One slot as `/v1/network` shows it. */
export interface SlotView {
  kind: SlotKind;
  slot: number;
  state: SlotState;
  vmId: string | null;
  netns: string | null;
  hostLink: string;
  tap: string;
  address: string;
  guestIp: string;
  hostIp: string | null;
  policy: SlotPolicy | null;
}

/** The lease as the VMM driver and the API see it. */
export function leaseView(config: NetworkConfig, defaults: SlotPolicy, r: SlotRow): NetworkLease {
  const policy = r.policy ?? defaults;
  if (r.kind === 'bridge') {
    const b = bridgeLayout(config, r.slot);
    return {
      vmId: r.vmId!,
      kind: 'bridge',
      slot: r.slot,
      netns: null,
      tap: b.tap,
      guest: { ip: b.guestIp, prefix: b.guestPrefix, gateway: b.gatewayIp, mac: policy.mac, mtu: policy.mtu },
      address: b.guestIp,
      policy,
      leasedAt: r.leasedAt ?? r.createdAt,
    };
  }
  const s = slotLayout(config, r.slot);
  return {
    vmId: r.vmId!,
    kind: 'clone',
    slot: r.slot,
    netns: s.netns,
    tap: s.tap,
    guest: { ip: s.guestIp, prefix: s.guestPrefix, gateway: s.gatewayIp, mac: policy.mac, mtu: policy.mtu },
    address: s.cloneAddress,
    policy,
    leasedAt: r.leasedAt ?? r.createdAt,
  };
}

/** One slot as `/v1/network` shows it. */
export function slotView(config: NetworkConfig, r: SlotRow): SlotView {
  if (r.kind === 'bridge') {
    const b = bridgeLayout(config, r.slot);
    return {
      kind: r.kind,
      slot: r.slot,
      state: r.state,
      vmId: r.vmId,
      netns: null,
      hostLink: b.tap,
      tap: b.tap,
      address: b.guestIp,
      guestIp: b.guestIp,
      hostIp: null,
      policy: r.policy,
    };
  }
  const s = slotLayout(config, r.slot);
  return {
    kind: r.kind,
    slot: r.slot,
    state: r.state,
    vmId: r.vmId,
    netns: s.netns,
    hostLink: s.hostVeth,
    tap: s.tap,
    address: s.cloneAddress,
    guestIp: s.guestIp,
    hostIp: s.hostVethIp,
    policy: r.policy,
  };
}
