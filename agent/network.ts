/**
 * `POST /v1/network` inside the guest: what a restored clone must change about its network, as one
 * `ip -batch` script (one process instead of one per command: each costs milliseconds in a small
 * guest, on the restore path).
 *
 * Two shapes of request (agent/protocol.ts `NetworkRequest`):
 *  - without `address`: a clone in its own network slot. It keeps the address it woke with (every
 *    slot gives the guest the same one), but its neighbour table still maps the gateway to the MAC
 *    of the TAP in the slot where the snapshot was taken; every slot's TAP has another MAC, so the
 *    table is flushed (and the MTU set when given).
 *  - with `address`: a clone on a TAP of its own (bridge mode). It takes the lease's address, MAC,
 *    MTU and default route, replacing the snapshot's, and forgets its neighbours.
 * Either may name the name servers (`dns`): /etc/resolv.conf is rewritten with them, since the
 * snapshot's are those of the golden's boot.
 *
 * Pure: validation and the script are tested without a guest; server.ts runs the script.
 */
import type { NetworkRequest } from './protocol.ts';

const IFACE = /^[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

function ipv4(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const parts = v.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** The request checked field by field; a string names what is wrong (the agent answers 400). */
export function parseNetworkRequest(body: unknown): NetworkRequest | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object';
  const b = body as Record<string, unknown>;
  if (typeof b.iface !== 'string' || !IFACE.test(b.iface)) return '"iface" must be an interface name (1–15 letters, digits, "_", "." or "-")';
  const out: NetworkRequest = { iface: b.iface };
  if (b.address !== undefined) {
    const [ip, prefix, extra] = typeof b.address === 'string' ? b.address.split('/') : [];
    if (!ipv4(ip) || extra !== undefined || !/^([0-9]|[12][0-9]|3[0-2])$/.test(prefix ?? ''))
      return '"address" must be an IPv4 address with a prefix length, e.g. 10.203.0.5/24';
    out.address = b.address as string;
  }
  if (b.gateway !== undefined) {
    if (!ipv4(b.gateway)) return '"gateway" must be an IPv4 address';
    if (out.address === undefined) return '"gateway" needs "address" (a clone in its own slot keeps its route)';
    out.gateway = b.gateway as string;
  }
  if (b.mac !== undefined) {
    if (typeof b.mac !== 'string' || !MAC.test(b.mac) || parseInt(b.mac.slice(0, 2), 16) & 1)
      return '"mac" must be a unicast MAC address, six colon-separated hex bytes';
    if (out.address === undefined) return '"mac" needs "address" (a clone in its own slot keeps the MAC of its snapshot)';
    out.mac = b.mac.toLowerCase();
  }
  if (b.mtu !== undefined) {
    if (!Number.isInteger(b.mtu) || (b.mtu as number) < 68 || (b.mtu as number) > 65535) return '"mtu" must be an integer from 68 to 65535';
    out.mtu = b.mtu as number;
  }
  if (b.dns !== undefined) {
    if (!Array.isArray(b.dns) || b.dns.length < 1 || b.dns.length > 2 || !b.dns.every(ipv4)) return '"dns" must list one or two IPv4 addresses';
    out.dns = b.dns as string[];
  }
  return out;
}

/** The guest's /etc/resolv.conf for a request that names its name servers, or null to leave it. */
export function resolvConfOf(req: NetworkRequest): string | null {
  return req.dns ? req.dns.map((s) => `nameserver ${s}\n`).join('') : null;
}

/** The `ip -batch` lines for a validated request, in the order they must run. */
export function networkBatch(req: NetworkRequest): string[] {
  const dev = req.iface;
  const lines: string[] = [];
  if (req.address !== undefined) {
    // Dropping the snapshot's address also drops the routes through it; both are re-added below.
    lines.push(`address flush dev ${dev}`);
    // virtio-net allows a live MAC change (the device does not filter on it).
    if (req.mac) lines.push(`link set dev ${dev} address ${req.mac}`);
  }
  if (req.mtu !== undefined) lines.push(`link set dev ${dev} mtu ${req.mtu}`);
  if (req.address !== undefined) {
    lines.push(`address add ${req.address} dev ${dev}`, `link set dev ${dev} up`);
    if (req.gateway) lines.push(`route replace default via ${req.gateway} dev ${dev}`);
  }
  lines.push(`neighbour flush dev ${dev}`);
  return lines;
}
