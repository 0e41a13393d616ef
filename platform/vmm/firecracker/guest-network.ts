/**
 * The guest's side of a VM's network attachment: what the driver tells the guest, at boot on the
 * kernel command line and after a restore through the agent.
 *
 * Boot: the guest's address goes on the command line as `ignition.ip=` (read by the image's init,
 * platform/image/init/init.c), so a VM booted in a clone slot has the slot's guest address, and a
 * snapshot of it (a golden snapshot) holds exactly the address every other slot expects.
 *
 * Restore: a clone wakes with its snapshot's address, neighbour table and name servers (those of
 * its golden's boot; the request names today's, and an agent built since rewrites resolv.conf).
 *  - slot mode: the address is right (the same in every slot), but the gateway's MAC is the TAP's
 *    in the slot where the snapshot was taken; the agent flushes the neighbour table
 *    (`POST /v1/network` without `address`). An agent that is not in a microVM (the fake
 *    Firecracker, or any emulator running the agent as a host process) answers 501: there is no
 *    guest neighbour table to flush, and the restore goes on.
 *  - bridge mode: the address is the snapshot's, so two clones would share it; the agent takes the
 *    lease's address, MAC, MTU and route. This must succeed, or the restore fails.
 */
import type { NetworkRequest } from '../../../agent/protocol.ts';
import { AgentPaths } from '../../../agent/protocol.ts';
import { agentRequest } from './agent.ts';
import { need, type FlowContext } from './flow.ts';
import type { GuestAddress, NetworkAttachment } from './options.ts';
import type { Step } from './steps.ts';

/** The guest's interface name for the one NIC the driver attaches. */
export const GUEST_IFACE = 'eth0';

/** What the guest did after a restore: flushed its neighbours, took a new address, or is no guest. */
export type GuestNetworkOutcome = 'flushed' | 'readdressed' | 'not-a-guest';

function netmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 255).join('.');
}

/**
 * `ignition.ip=<ip>::<gateway>:<netmask>::eth0:off[:<dns0>[:<dns1>]]`, the kernel's `ip=` syntax;
 * init writes the name servers into the guest's /etc/resolv.conf.
 */
export function ignitionIpArg(guest: GuestAddress): string {
  if (!Number.isInteger(guest.prefix) || guest.prefix < 0 || guest.prefix > 32) throw new Error(`guest prefix length ${guest.prefix} is not 0–32`);
  const dns = (guest.dns ?? [])
    .slice(0, 2)
    .map((s) => `:${s}`)
    .join('');
  return `ignition.ip=${guest.ip}::${guest.gateway}:${netmask(guest.prefix)}::${GUEST_IFACE}:off${dns}`;
}

/**
 * The kernel command line of a boot: `bootArgs` plus the guest's address on its attachment. An
 * `ignition.ip=` already in `bootArgs` is an operator's explicit choice and is kept as it is.
 */
export function guestBootArgs(bootArgs: string, net: NetworkAttachment | undefined): string {
  if (!net?.guest || /(^|\s)ignition\.ip=/.test(bootArgs)) return bootArgs;
  // Ethernet's 1500 is the kernel's default already; anything else (a policy's MTU) is set by init.
  const mtu = net.guest.mtu && net.guest.mtu !== 1500 ? ` ignition.mtu=${net.guest.mtu}` : '';
  return `${bootArgs} ${ignitionIpArg(net.guest)}${mtu}`.trim();
}

/** The agent request that settles a restored clone's network on `net`. */
export function restoreNetworkRequest(net: NetworkAttachment, vmId: string): NetworkRequest {
  const g = net.guest;
  // The snapshot's resolv.conf lists the servers of the golden's boot; these are today's.
  const dns = g?.dns?.length ? { dns: g.dns.slice(0, 2) } : {};
  if (net.mode === 'slot') return { iface: GUEST_IFACE, ...(g ? { mtu: g.mtu } : {}), ...dns };
  if (!g) {
    // The clone would keep the snapshot's address, which its source (or a sibling) still uses.
    throw new Error(
      `VM ${vmId} was restored onto TAP ${net.hostDevName} outside a network slot, and its network provider gave no guest address to re-address it to`,
    );
  }
  return { iface: GUEST_IFACE, address: `${g.ip}/${g.prefix}`, gateway: g.gateway, mac: g.mac, mtu: g.mtu, ...dns };
}

/**
 * Tells the restored guest behind `vsock` what changed about its network (see the header); call
 * after `resume` and the agent's health. Throws when the agent refuses, except a 501 from an agent
 * that is not in a microVM while only a neighbour flush was asked for.
 */
export async function settleGuestNetwork(vsock: string, net: NetworkAttachment, vmId: string, timeoutMs: number): Promise<GuestNetworkOutcome> {
  const req = restoreNetworkRequest(net, vmId);
  const res = await agentRequest<{ code?: string; detail?: string }>(vsock, 'POST', AgentPaths.network, req, timeoutMs);
  if (res.status === 200) return req.address === undefined ? 'flushed' : 'readdressed';
  if (res.status === 501 && res.body?.code === 'agent_unsupported' && req.address === undefined) return 'not-a-guest';
  const what = req.address === undefined ? 'flush its neighbour table' : `take the address ${req.address}`;
  const status = [res.status, res.body?.code].filter(Boolean).join(' ');
  throw new Error(`the agent of ${vmId} could not ${what} (${status}): ${res.body?.detail ?? 'no detail'}`);
}

/** The restore step that runs `settleGuestNetwork` (after resume and agent-health). */
export const guestNetworkStep: Step<FlowContext> = {
  name: 'guest-network',
  when: (ctx) => ctx.net !== undefined,
  run: async (ctx) => {
    await settleGuestNetwork(need(ctx.layout, 'layout').vsock, need(ctx.net, 'network'), ctx.spec.id, ctx.opts.restoreAgentTimeoutMs);
  },
};
