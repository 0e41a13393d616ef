/**
 * Renders the shell scripts that create, re-police and tear down slots, and the host's nft table.
 * Pure: text in, text out, so the exact commands are unit-tested without root and reproducible by
 * hand (an error carries the script it ran).
 *
 * One script per operation, run by one `sh` (host.ts): it feeds one `ip -batch` for the host side,
 * one `ip -n <slot> -batch` for the slot side and one `nft -f` inside the slot. Batching matters:
 * every process costs 5–20 ms here, so a step-per-process set-up would take ten times longer.
 * Why two `ip` batches and not one: addresses and routes can only be set from inside the namespace
 * that owns the link, and iproute2's batch mode has no per-line namespace switch.
 *
 * Every value interpolated comes from slot.ts (validated names, dotted quads, integers); `word`
 * re-checks that, so no configuration value can smuggle shell or nft syntax into a script.
 */
import { formatCidr, formatIp, nth } from './ipv4.ts';
import type { BridgeLayout, NetworkConfig, SlotLayout, SlotPolicy } from './slot.ts';
import { bridgeName } from './slot.ts';

/** The host-side nft table: every host rule of ours lives here and nowhere else. */
export const HOST_TABLE = 'inet ignition';
/**
 * Where clouds serve instance metadata, which hands the host's credentials to whoever asks: IPv4
 * link-local (RFC 3927: AWS, GCP, Azure's IMDS, Oracle…), Alibaba's 100.100.100.200 and Azure's
 * WireServer at 168.63.129.16.
 */
const METADATA = ['169.254.0.0/16', '100.100.100.200', '168.63.129.16'];
/** The table inside each slot namespace (dies with the namespace). */
export const SLOT_TABLE = 'ip ignition';

/** Run inside a new slot before its table: forwarding on, IPv6 off. */
const SLOT_SYSCTLS =
  'echo 1 > /proc/sys/net/ipv4/ip_forward; ' +
  'if [ -e /proc/sys/net/ipv6/conf/all/disable_ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6; fi; ';

/** Stderr lines of `ip -force -batch` that mean "already gone": teardown tolerates them. */
export const ABSENT = [/^Cannot find device/, /^Cannot remove namespace file .*No such file or directory/, /^Command failed /];

function word(v: string | number): string {
  const s = String(v);
  if (!/^[A-Za-z0-9._:/-]+$/.test(s)) throw new Error(`refusing to put "${s}" into a network script`);
  return s;
}

function heredoc(cmd: string, body: string[], tag: string): string {
  return `${cmd} <<'${tag}'\n${body.join('\n')}\n${tag}\n`;
}

function tapOwner(cfg: NetworkConfig): string {
  return (cfg.tapUid !== null ? ` user ${word(cfg.tapUid)}` : '') + (cfg.tapGid !== null ? ` group ${word(cfg.tapGid)}` : '');
}

/** The nft table inside a slot: DNAT clone address → guest, masquerade guest → veth, egress policy. */
export function slotNft(s: SlotLayout, policy: SlotPolicy): string[] {
  const v = word(s.slotVeth);
  const t = word(s.tap);
  return [
    `add table ${SLOT_TABLE}`,
    `delete table ${SLOT_TABLE}`, // add-then-delete: replaces the table atomically whether or not it existed
    `table ${SLOT_TABLE} {`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    `    iifname "${v}" ip daddr ${word(s.cloneAddress)} dnat to ${word(s.guestIp)}`,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    oifname "${v}" ip saddr ${word(s.guestIp)} masquerade`,
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy drop;`,
    `    ct state established,related accept`,
    // Ingress reaches the guest only through the clone address.
    `    iifname "${v}" oifname "${t}" ct status dnat accept`,
    policy.egress
      ? `    iifname "${t}" oifname "${v}" accept`
      : // Reject rather than drop, so a guest's connect() fails at once instead of hanging.
        `    iifname "${t}" reject with icmp type admin-prohibited`,
    `  }`,
    // Nothing outside opens a connection to the slot itself: a guest's ingress is DNAT-ed to it
    // through the clone address (forward), and a process sandbox, which runs in the slot's
    // namespace, gets none, whatever it listens on.
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    `    iifname "${v}" ct state new drop`,
    `  }`,
    // A process sandbox runs in the slot's namespace itself, so its packets are the namespace's
    // own (output), not forwarded from the TAP: egress off refuses those too.
    ...(policy.egress
      ? []
      : [
          `  chain output {`,
          `    type filter hook output priority filter; policy accept;`,
          `    oifname "${v}" ct state established,related accept`,
          `    oifname "${v}" reject with icmp type admin-prohibited`,
          `  }`,
        ]),
    `}`,
  ];
}

/** Creates clone slot `s`: namespace, veth pair, TAP, addresses, routes, NAT. */
export function createSlotScript(cfg: NetworkConfig, s: SlotLayout, policy: SlotPolicy): string {
  const ns = word(s.netns);
  const mtu = word(policy.mtu);
  const host = [
    `netns add ${ns}`,
    // The peer is born inside the slot namespace: it never exists in the host's, so no name clash.
    `link add ${word(s.hostVeth)} mtu ${mtu} type veth peer name ${word(s.slotVeth)} mtu ${mtu} netns ${ns}`,
    `addr add ${word(s.hostVethIp)}/${s.pairPrefix} dev ${word(s.hostVeth)}`,
    `link set ${word(s.hostVeth)} up`,
    `route add ${word(s.cloneAddress)}/32 via ${word(s.slotVethIp)} dev ${word(s.hostVeth)}`,
  ];
  const inside = [
    `link set lo up`,
    `tuntap add dev ${word(s.tap)} mode tap${tapOwner(cfg)}`,
    `link set ${word(s.tap)} mtu ${mtu} up`,
    `addr add ${word(s.gatewayIp)}/${s.guestPrefix} dev ${word(s.tap)}`,
    `addr add ${word(s.slotVethIp)}/${s.pairPrefix} dev ${word(s.slotVeth)}`,
    `link set ${word(s.slotVeth)} up`,
    `route add default via ${word(s.hostVethIp)} dev ${word(s.slotVeth)}`,
  ];
  return (
    heredoc('ip -batch -', host, 'IGN_HOST') +
    heredoc(`ip -n ${ns} -batch -`, inside, 'IGN_SLOT') +
    // A fresh namespace does not forward; the sysctl is per namespace and set from inside it.
    // Nor does a slot speak IPv6: its rules are IPv4's, and guests and sandboxes have no IPv6
    // address or route, so none is left to them (where the kernel has IPv6 at all).
    heredoc(`nsenter --net=/run/netns/${ns} sh -ec '${SLOT_SYSCTLS}exec nft -f -'`, slotNft(s, policy), 'IGN_NFT')
  );
}

/** Changes a live slot's policy: MTU on both veth ends and the TAP, the slot's nft table. */
export function slotPolicyScript(s: SlotLayout, from: SlotPolicy | null, to: SlotPolicy): string {
  let out = '';
  if (!from || from.mtu !== to.mtu) {
    const m = word(to.mtu);
    out += heredoc('ip -batch -', [`link set ${word(s.hostVeth)} mtu ${m}`], 'IGN_HOST');
    out += heredoc(`ip -n ${word(s.netns)} -batch -`, [`link set ${word(s.slotVeth)} mtu ${m}`, `link set ${word(s.tap)} mtu ${m}`], 'IGN_SLOT');
  }
  if (!from || from.egress !== to.egress) {
    out += heredoc(`nsenter --net=/run/netns/${word(s.netns)} nft -f -`, slotNft(s, to), 'IGN_NFT');
  }
  return out;
}

/**
 * Tears down clone slot `s`. Deleting the host veth end deletes its peer and the route through it;
 * deleting the namespace takes the TAP and the slot's nft table (once no process holds it).
 * Tolerates missing pieces (see ABSENT), so it is idempotent and doubles as set-up rollback.
 */
export function destroySlotScript(s: SlotLayout): string {
  return heredoc('ip -force -batch -', [`link del ${word(s.hostVeth)}`, `netns del ${word(s.netns)}`], 'IGN_HOST');
}

/** Creates a bridge slot: a TAP on our bridge, and its egress permission. */
export function createBridgeTapScript(cfg: NetworkConfig, b: BridgeLayout, policy: SlotPolicy): string {
  return (
    heredoc(
      'ip -batch -',
      [`tuntap add dev ${word(b.tap)} mode tap${tapOwner(cfg)}`, `link set ${word(b.tap)} mtu ${word(policy.mtu)} master ${word(b.bridge)} up`],
      'IGN_HOST',
    ) + bridgeEgressScript(b, policy.egress)
  );
}

/** Adds or removes a bridge guest's address in the host table's egress set (idempotent either way). */
export function bridgeEgressScript(b: BridgeLayout, egress: boolean): string {
  const el = `${HOST_TABLE} bridge_egress { ${word(b.guestIp)} }`;
  return heredoc('nft -f -', egress ? [`add element ${el}`] : [`add element ${el}`, `delete element ${el}`], 'IGN_NFT');
}

/** Removes a bridge slot; idempotent. */
export function destroyBridgeTapScript(b: BridgeLayout): string {
  return bridgeEgressScript(b, false) + heredoc('ip -force -batch -', [`link del ${word(b.tap)}`], 'IGN_HOST');
}

/**
 * The host side of everything: forwarding on, the bridge (when missing) and our one nft table,
 * replaced atomically with the bridge egress set refilled from current leases.
 */
export function hostScript(cfg: NetworkConfig, opts: { createBridge: boolean; bridgeEgress: string[] }): string {
  const p = word(cfg.prefix);
  const br = cfg.bridgeSubnet ? word(bridgeName(cfg)) : null;
  let out = 'echo 1 > /proc/sys/net/ipv4/ip_forward\n';
  if (br && cfg.bridgeSubnet && opts.createBridge) {
    out += heredoc(
      'ip -batch -',
      [`link add ${br} type bridge`, `addr add ${word(bridgeGateway(cfg))}/${cfg.bridgeSubnet.prefix} dev ${br}`, `link set ${br} up`],
      'IGN_HOST',
    );
  }
  const dns = cfg.dns.map(word).join(', ');
  const dnsAccept = (from: string) => (dns ? [`    ${from} ip daddr { ${dns} } meta l4proto { tcp, udp } th dport 53 accept`] : []);
  const metadata = `{ ${METADATA.join(', ')} }`;
  const table = [
    `add table ${HOST_TABLE}`,
    `delete table ${HOST_TABLE}`,
    `table ${HOST_TABLE} {`,
    ...(br ? [`  set bridge_egress { type ipv4_addr; }`] : []),
    // No new connection from a guest to an address of the host's, judged on the address the guest
    // asked for: here, before a port forward of the host's (Docker's -p, a NodePort: a DNAT at
    // dstnat, -100) turns it into forwarded traffic that the input chain never sees.
    `  chain prerouting {`,
    `    type filter hook prerouting priority -150; policy accept;`,
    ...dnsAccept(`iifname "${p}-v*"`),
    ...(br ? dnsAccept(`iifname "${br}" ip saddr @bridge_egress`) : []),
    `    iifname "${p}-v*" ct state new fib daddr type local drop`,
    ...(br ? [`    iifname "${br}" ct state new fib daddr type local drop`] : []),
    `  }`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    // Slots never talk to each other, only to the outside and to the host's replies.
    `    iifname "${p}-v*" oifname "${p}-v*" drop`,
    ...(br ? [`    iifname "${p}-v*" oifname "${br}" drop`] : []),
    // A slot sends from its veth's address (a guest's masqueraded, a sandbox's own) or, in
    // answers, its clone address: anything else (the unused TAP's address, bound by a sandbox)
    // would leave un-NAT-ed, from an address every slot shares.
    `    iifname "${p}-v*" ip saddr != { ${word(formatCidr(cfg.hostSubnet))}, ${word(formatCidr(cfg.cloneSubnet))} } drop`,
    // Name queries to the configured resolvers pass the metadata rules below: a cloud's resolver
    // may sit at a metadata address (GCP's at 169.254.169.254, Azure's at 168.63.129.16), and
    // port 53 is all it opens.
    ...dnsAccept(`iifname "${p}-v*"`),
    ...(br ? dnsAccept(`iifname "${br}" ip saddr @bridge_egress`) : []),
    `    iifname "${p}-v*" ip daddr ${metadata} reject with icmp type admin-prohibited`,
    ...(br ? [`    iifname "${br}" ip daddr ${metadata} reject with icmp type admin-prohibited`] : []),
    ...(br ? [`    iifname "${br}" oifname != "${br}" ct state new ip saddr != @bridge_egress reject with icmp type admin-prohibited`] : []),
    `  }`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    // Guests may answer the host but not open connections to it, bar name queries to a
    // resolver that is one of the host's own addresses.
    ...dnsAccept(`iifname "${p}-v*"`),
    ...(br ? dnsAccept(`iifname "${br}" ip saddr @bridge_egress`) : []),
    `    iifname "${p}-v*" ct state new drop`,
    ...(br ? [`    iifname "${br}" ct state new drop`] : []),
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    `    ip saddr ${word(formatCidr(cfg.hostSubnet))} oifname != "${p}-v*" masquerade`,
    ...(br && cfg.bridgeSubnet ? [`    ip saddr ${word(formatCidr(cfg.bridgeSubnet))} oifname != "${br}" masquerade`] : []),
    `  }`,
    `}`,
    ...(br && opts.bridgeEgress.length ? [`add element ${HOST_TABLE} bridge_egress { ${opts.bridgeEgress.map(word).join(', ')} }`] : []),
  ];
  return out + heredoc('nft -f -', table, 'IGN_NFT');
}

/** Removes our host table and bridge: what `close({ purge: true })` and tests' clean-up use. */
export function purgeHostScript(cfg: NetworkConfig): string {
  let out = heredoc('nft -f -', [`add table ${HOST_TABLE}`, `delete table ${HOST_TABLE}`], 'IGN_NFT');
  if (cfg.bridgeSubnet) out += heredoc('ip -force -batch -', [`link del ${word(bridgeName(cfg))}`], 'IGN_HOST');
  return out;
}

function bridgeGateway(cfg: NetworkConfig): string {
  return formatIp(nth(cfg.bridgeSubnet!, 1));
}
