/**
 * Slot arithmetic: every name and address of network slot N is a pure function of N and the
 * validated configuration, so set-up, teardown, reconciliation and the API all agree on what slot
 * N is without storing it anywhere.
 *
 * A clone slot is a network namespace `<prefix>-N` holding the TAP (`tap0` in every slot, with the
 * same gateway and guest address, because every clone of a snapshot wakes with the same guest
 * IP), joined to the host by a veth pair whose host end `<prefix>-vN` gets the N-th /30 (or /31)
 * of the host subnet; the slot's unique "clone address" is the (N+1)-th address of the clone
 * subnet. A bridge slot is a TAP `<prefix>-tN` on the bridge `<prefix>-br0` with its own guest
 * address. See docs/NETWORKING.md for the picture.
 */
import { NetInvalidConfig, NetInvalidPolicy, NetSubnetOverlap, NetSubnetTooSmall } from './errors.ts';
import { type Cidr, formatCidr, formatIp, nth, overlaps, parseCidr } from './ipv4.ts';
import { checkResolvers, hostResolvers, outside } from './dns.ts';

/** Settings as written in ignition.config.ts; every field has a default. */
export interface NetworkConfigInput {
  /** Prefix of every namespace and link we create (lowercase, 1–8 chars). Default `ign`. */
  prefix?: string;
  /** Guest-side network inside every slot: gateway = 1st address, guest = 2nd. Default 172.16.0.0/30. */
  guestSubnet?: string;
  /** Guest MAC used in clone slots unless a policy overrides it. Default 06:00:ac:10:00:02. */
  guestMac?: string;
  /** TAP name inside every slot. Default `tap0`. */
  tapName?: string;
  /** Where the veth pairs' addresses come from. Default 10.201.0.0/16. */
  hostSubnet?: string;
  /** Size of each veth pair's network: 30 (classic) or 31 (RFC 3021, half the addresses). */
  pairPrefix?: 30 | 31;
  /** Where the unique per-slot "clone addresses" come from. Default 10.202.0.0/16. */
  cloneSubnet?: string;
  /** Subnet of the bridge for plain (non-clone) VMs; null disables bridge mode. Default 10.203.0.0/24. */
  bridgeSubnet?: string | null;
  /** Upper bound on clone slots, below what the subnets allow. */
  maxSlots?: number;
  /** Default MTU of TAP and veth. Default 1500. */
  mtu?: number;
  /** Default internet egress for a new lease. Default true. */
  egress?: boolean;
  /** Owner uid/gid of created TAPs, so a jailed (non-root) Firecracker can open them. */
  tapUid?: number;
  tapGid?: number;
  /**
   * Name servers for functions with network (one or two IPv4 addresses). Default: the host's,
   * where a slot can reach them (dns.ts).
   */
  dns?: string[];
}

/** The validated configuration. */
export interface NetworkConfig {
  prefix: string;
  guestSubnet: Cidr;
  guestMac: string;
  tapName: string;
  hostSubnet: Cidr;
  pairPrefix: 30 | 31;
  cloneSubnet: Cidr;
  bridgeSubnet: Cidr | null;
  /** Number of clone slots: numbers 0 … capacity-1. */
  capacity: number;
  /** Number of bridge slots (0 without bridge mode). */
  bridgeCapacity: number;
  mtu: number;
  egress: boolean;
  tapUid: number | null;
  tapGid: number | null;
  /** Name servers for functions with network; empty when neither the configuration nor the host names one a slot can reach. */
  dns: string[];
}

/** Everything about clone slot N. */
export interface SlotLayout {
  slot: number;
  netns: string;
  hostVeth: string;
  /** The veth end inside the namespace: the same name in every slot. */
  slotVeth: string;
  tap: string;
  hostVethIp: string;
  slotVethIp: string;
  pairPrefix: number;
  cloneAddress: string;
  /** Address of `tap` inside the slot: the guest's default gateway. */
  gatewayIp: string;
  guestIp: string;
  guestPrefix: number;
  guestMac: string;
}

/** Everything about bridge slot N. */
export interface BridgeLayout {
  slot: number;
  bridge: string;
  tap: string;
  gatewayIp: string;
  guestIp: string;
  guestPrefix: number;
  /** Unique per slot on a shared bridge: 06:00 followed by the guest IP's four bytes. */
  guestMac: string;
}

/** Per-lease policy, resolved against the configuration's defaults. */
export interface SlotPolicy {
  egress: boolean;
  mtu: number;
  mac: string;
}

export type SlotPolicyInput = Partial<SlotPolicy>;

const IFNAMSIZ = 15; // Linux interface names: 16 bytes including the terminating NUL.
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
export const MTU_MIN = 576;
export const MTU_MAX = 9216;

/**
 * Validates and completes the configuration; throws `net_*` errors naming the bad setting.
 * `hostDns` gives the default name servers (the host's, read once here).
 */
export function resolveNetworkConfig(input: NetworkConfigInput = {}, hostDns: (usable: (ip: string) => boolean) => string[] = hostResolvers): NetworkConfig {
  const prefix = input.prefix ?? 'ign';
  if (!/^[a-z][a-z0-9]{0,7}$/.test(prefix)) {
    throw NetInvalidConfig(`network prefix "${prefix}" must be 1–8 lowercase letters or digits, starting with a letter.`);
  }
  const tapName = input.tapName ?? 'tap0';
  if (!/^[a-z][a-z0-9]{0,14}$/.test(tapName) || tapName === 'veth0' || tapName === 'lo') {
    throw NetInvalidConfig(`TAP name "${tapName}" must be up to 15 lowercase letters or digits and not veth0 or lo.`);
  }
  const guestSubnet = parseCidr(input.guestSubnet ?? '172.16.0.0/30', 'guestSubnet');
  const hostSubnet = parseCidr(input.hostSubnet ?? '10.201.0.0/16', 'hostSubnet');
  const cloneSubnet = parseCidr(input.cloneSubnet ?? '10.202.0.0/16', 'cloneSubnet');
  const bridgeText = input.bridgeSubnet === undefined ? '10.203.0.0/24' : input.bridgeSubnet;
  const bridgeSubnet = bridgeText === null ? null : parseCidr(bridgeText, 'bridgeSubnet');
  const pairPrefix = input.pairPrefix ?? 30;
  if (pairPrefix !== 30 && pairPrefix !== 31) throw NetInvalidConfig(`pairPrefix must be 30 or 31, not ${String(pairPrefix)}.`);

  const named: Array<[string, Cidr]> = [
    ['guestSubnet', guestSubnet],
    ['hostSubnet', hostSubnet],
    ['cloneSubnet', cloneSubnet],
  ];
  if (bridgeSubnet) named.push(['bridgeSubnet', bridgeSubnet]);
  for (let i = 0; i < named.length; i++) {
    for (let j = i + 1; j < named.length; j++) {
      const [an, a] = named[i];
      const [bn, b] = named[j];
      if (overlaps(a, b)) {
        throw NetSubnetOverlap(`${an} ${formatCidr(a)} overlaps ${bn} ${formatCidr(b)}; give each its own range.`, {
          data: { [an]: formatCidr(a), [bn]: formatCidr(b) },
        });
      }
    }
  }

  if (guestSubnet.prefix > 30) throw NetSubnetTooSmall(`guestSubnet ${formatCidr(guestSubnet)} needs room for a gateway and a guest: use /30 or wider.`);
  if (hostSubnet.prefix > pairPrefix) throw NetSubnetTooSmall(`hostSubnet ${formatCidr(hostSubnet)} cannot hold one /${pairPrefix} veth pair.`);
  // Skip the network and broadcast addresses of the clone subnet when it has them.
  const cloneUsable = cloneSubnet.prefix >= 31 ? cloneSubnet.size : cloneSubnet.size - 2;
  const pairs = hostSubnet.size / 2 ** (32 - pairPrefix);
  const fits = Math.min(pairs, cloneUsable);
  const capacity = input.maxSlots ?? fits;
  if (!Number.isInteger(capacity) || capacity < 1) throw NetInvalidConfig(`maxSlots must be a positive integer, not ${String(input.maxSlots)}.`);
  if (capacity > fits) {
    throw NetSubnetTooSmall(
      `maxSlots ${capacity} does not fit: hostSubnet ${formatCidr(hostSubnet)} holds ${pairs} veth pairs and cloneSubnet ${formatCidr(cloneSubnet)} ${cloneUsable} clone addresses.`,
      { data: { maxSlots: capacity, pairs, cloneAddresses: cloneUsable } },
    );
  }
  // Network, gateway and broadcast are not for guests.
  const bridgeCapacity = bridgeSubnet ? Math.max(0, bridgeSubnet.size - 3) : 0;
  if (bridgeSubnet && bridgeCapacity < 1) throw NetSubnetTooSmall(`bridgeSubnet ${formatCidr(bridgeSubnet)} has no room for a guest: use /29 or wider.`);

  const longest = Math.max(`${prefix}-v${capacity - 1}`.length, `${prefix}-t${Math.max(0, bridgeCapacity - 1)}`.length, `${prefix}-br0`.length);
  if (longest > IFNAMSIZ) {
    throw NetInvalidConfig(`link names of prefix "${prefix}" with ${capacity} slots exceed ${IFNAMSIZ} bytes; shorten the prefix or set maxSlots.`);
  }
  const mtu = input.mtu ?? 1500;
  checkMtu(mtu, NetInvalidConfig);
  const guestMac = normaliseMac(input.guestMac ?? '06:00:ac:10:00:02', NetInvalidConfig);
  for (const [k, v] of [
    ['tapUid', input.tapUid],
    ['tapGid', input.tapGid],
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw NetInvalidConfig(`${k} must be a non-negative integer.`);
  }
  return {
    prefix,
    guestSubnet,
    guestMac,
    tapName,
    hostSubnet,
    pairPrefix,
    cloneSubnet,
    bridgeSubnet,
    capacity,
    bridgeCapacity,
    mtu,
    egress: input.egress ?? true,
    tapUid: input.tapUid ?? null,
    tapGid: input.tapGid ?? null,
    dns: checkedOrHostDns(input.dns, named, hostDns),
  };
}

/** The configuration's name servers, checked; else the host's, less any inside Ignition's own networks. */
function checkedOrHostDns(dns: unknown, ours: Array<[string, Cidr]>, hostDns: (usable: (ip: string) => boolean) => string[]): string[] {
  return dns !== undefined ? checkResolvers(dns, ours) : hostDns(outside(ours));
}

/** The layout of clone slot `n` (0 ≤ n < capacity). */
export function slotLayout(cfg: NetworkConfig, n: number): SlotLayout {
  checkSlot(n, cfg.capacity, 'clone');
  const pairSize = cfg.pairPrefix === 30 ? 4 : 2;
  const pairBase = nth(cfg.hostSubnet, n * pairSize);
  // In a /30 the usable pair is .1/.2; in a /31 both addresses are usable (RFC 3021).
  const hostIp = cfg.pairPrefix === 30 ? pairBase + 1 : pairBase;
  const cloneOffset = cfg.cloneSubnet.prefix >= 31 ? n : n + 1;
  return {
    slot: n,
    netns: `${cfg.prefix}-${n}`,
    hostVeth: `${cfg.prefix}-v${n}`,
    slotVeth: 'veth0',
    tap: cfg.tapName,
    hostVethIp: formatIp(hostIp),
    slotVethIp: formatIp(hostIp + 1),
    pairPrefix: cfg.pairPrefix,
    cloneAddress: formatIp(nth(cfg.cloneSubnet, cloneOffset)),
    gatewayIp: formatIp(nth(cfg.guestSubnet, 1)),
    guestIp: formatIp(nth(cfg.guestSubnet, 2)),
    guestPrefix: cfg.guestSubnet.prefix,
    guestMac: cfg.guestMac,
  };
}

/** The layout of bridge slot `n` (0 ≤ n < bridgeCapacity). */
export function bridgeLayout(cfg: NetworkConfig, n: number): BridgeLayout {
  if (!cfg.bridgeSubnet) throw NetInvalidConfig('bridge mode is disabled (bridgeSubnet is null).');
  checkSlot(n, cfg.bridgeCapacity, 'bridge');
  const guest = nth(cfg.bridgeSubnet, n + 2);
  const mac = ['06', '00', ...[guest >>> 24, (guest >>> 16) & 255, (guest >>> 8) & 255, guest & 255].map((b) => b.toString(16).padStart(2, '0'))];
  return {
    slot: n,
    bridge: bridgeName(cfg),
    tap: `${cfg.prefix}-t${n}`,
    gatewayIp: formatIp(nth(cfg.bridgeSubnet, 1)),
    guestIp: formatIp(guest),
    guestPrefix: cfg.bridgeSubnet.prefix,
    guestMac: mac.join(':'),
  };
}

export function bridgeName(cfg: NetworkConfig): string {
  return `${cfg.prefix}-br0`;
}

/** Name parsers for reconciliation: the slot number a name of ours denotes, or null if not ours. */
export function slotOfNetns(cfg: NetworkConfig, name: string): number | null {
  return numbered(name, `${cfg.prefix}-`);
}
export function slotOfHostVeth(cfg: NetworkConfig, name: string): number | null {
  return numbered(name, `${cfg.prefix}-v`);
}
export function slotOfBridgeTap(cfg: NetworkConfig, name: string): number | null {
  return numbered(name, `${cfg.prefix}-t`);
}

function numbered(name: string, head: string): number | null {
  if (!name.startsWith(head)) return null;
  const tail = name.slice(head.length);
  // Canonical decimal only: "ign-05" is not slot 5, so it is never mistaken for one of ours.
  return /^(0|[1-9]\d{0,9})$/.test(tail) ? Number(tail) : null;
}

/** Completes a lease's policy from the configuration's defaults, validating what was given. */
export function resolvePolicy(cfg: NetworkConfig, input: SlotPolicyInput = {}): SlotPolicy {
  if (input.egress !== undefined && typeof input.egress !== 'boolean') throw NetInvalidPolicy('egress must be true or false.');
  const mtu = input.mtu ?? cfg.mtu;
  checkMtu(mtu, NetInvalidPolicy);
  return { egress: input.egress ?? cfg.egress, mtu, mac: normaliseMac(input.mac ?? cfg.guestMac, NetInvalidPolicy) };
}

function checkMtu(mtu: number, err: typeof NetInvalidPolicy): void {
  if (!Number.isInteger(mtu) || mtu < MTU_MIN || mtu > MTU_MAX) throw err(`MTU ${String(mtu)} is outside ${MTU_MIN}–${MTU_MAX}.`);
}

function normaliseMac(mac: string, err: typeof NetInvalidPolicy): string {
  const m = String(mac).toLowerCase();
  if (!MAC.test(m)) throw err(`MAC "${mac}" is not six colon-separated hex bytes.`);
  if (parseInt(m.slice(0, 2), 16) & 1) throw err(`MAC "${mac}" is a multicast address; a guest needs a unicast one.`);
  return m;
}

function checkSlot(n: number, capacity: number, kind: string): void {
  if (!Number.isInteger(n) || n < 0 || n >= capacity) throw NetInvalidConfig(`${kind} slot ${n} is outside 0–${capacity - 1}.`);
}
