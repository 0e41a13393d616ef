/**
 * The name servers a function with network resolves through, in a microVM (the guest's
 * `/etc/resolv.conf`, written by init from the boot line) and in a process sandbox in a slot (a
 * `resolv.conf` bound over the host's).
 *
 * A slot is not the host: its loopback is its own, and the host table drops new connections from
 * a slot to the host's addresses. So the host's own `resolv.conf` does not always carry over. A
 * resolver on the host's loopback (systemd-resolved's 127.0.0.53, dnsmasq on 127.0.0.1) is out of
 * a slot's reach, and systemd-resolved keeps the servers it forwards to in a second file, which
 * names real addresses. Unless the configuration names servers (`network.dns`), the first of
 * these two files that names a server a slot can reach gives them.
 *
 * IPv4 only: slots and guests have IPv4 addresses alone. At most two: the boot line's `ip=`
 * syntax, which carries them into a microVM, has two fields for them.
 */
import { readFileSync } from 'node:fs';
import { NetInvalidConfig } from './errors.ts';
import { type Cidr, formatIp, overlaps, parseIp } from './ipv4.ts';

/** The host's resolver configuration, then systemd-resolved's list of its upstream servers. */
export const HOST_RESOLV_FILES = ['/etc/resolv.conf', '/run/systemd/resolve/resolv.conf'];
/** Name servers a guest is given: the two of the kernel's `ip=` syntax. */
export const MAX_RESOLVERS = 2;

const LOOPBACK = 127;
const MULTICAST = 224;

/**
 * Whether a slot can send queries to this IPv4 address: a unicast address, not the host's
 * loopback, not "this network" (0.0.0.0/8), not multicast or the broadcast address (224.0.0.0 up).
 */
function reachableFromSlot(ip: number): boolean {
  const first = ip >>> 24;
  return first !== LOOPBACK && first !== 0 && first < MULTICAST;
}

/** The IPv4 name servers a resolv.conf text names that a slot can reach, in order, without repeats. */
export function resolversIn(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const ip = m ? parseIp(m[1]) : null;
    if (ip === null || !reachableFromSlot(ip)) continue;
    const s = formatIp(ip);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/**
 * The host's resolvers a slot can use: from the first file of `files` that names any (see the
 * header), less those `usable` refuses (inside Ignition's own networks), before two are taken.
 */
export function hostResolvers(
  usable: (ip: string) => boolean = () => true,
  files: readonly string[] = HOST_RESOLV_FILES,
  read: (file: string) => string = (f) => readFileSync(f, 'utf8'),
): string[] {
  for (const file of files) {
    let text: string;
    try {
      text = read(file);
    } catch {
      continue;
    }
    const found = resolversIn(text).filter(usable);
    if (found.length > 0) return found.slice(0, MAX_RESOLVERS);
  }
  return [];
}

/** Whether a dotted quad lies outside every network of `ours`. */
export function outside(ours: Array<[string, Cidr]>): (ip: string) => boolean {
  return (s) => {
    const ip = parseIp(s);
    return ip !== null && insideOf(ours, ip) === undefined;
  };
}

function insideOf(ours: Array<[string, Cidr]>, ip: number): string | undefined {
  return ours.find(([, net]) => overlaps(net, { base: ip, prefix: 32, size: 1 }))?.[0];
}

/**
 * Checks the configuration's `network.dns`: one or two IPv4 addresses a slot can reach, each once.
 * `ours` are the networks Ignition itself addresses, where no resolver listens.
 */
export function checkResolvers(value: unknown, ours: Array<[string, Cidr]>): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_RESOLVERS) {
    throw NetInvalidConfig(`network.dns must list one or two IPv4 name servers, such as ["9.9.9.9"].`, { data: { setting: 'dns' } });
  }
  const servers = value.map((v) => {
    const ip = typeof v === 'string' ? parseIp(v.trim()) : null;
    const bad = (why: string) => NetInvalidConfig(`network.dns entry ${JSON.stringify(v)} ${why}.`, { data: { setting: 'dns', value: v } });
    if (ip === null) throw bad('is not an IPv4 address');
    if (!reachableFromSlot(ip)) throw bad("is a loopback, unspecified, multicast or broadcast address, which a function's own network namespace cannot query");
    const inside = insideOf(ours, ip);
    if (inside) throw bad(`is inside ${inside}, where no name server of Ignition's listens`);
    return formatIp(ip);
  });
  if (servers.length === 2 && servers[0] === servers[1]) throw NetInvalidConfig(`network.dns names ${servers[0]} twice.`, { data: { setting: 'dns' } });
  return servers;
}

/** The `resolv.conf` a process sandbox in a slot reads. With no server, a comment that says where to set one. */
export function resolvConfText(servers: readonly string[]): string {
  if (servers.length === 0) return '# no name server a function can reach: set network.dns in the daemon’s configuration\n';
  return servers.map((s) => `nameserver ${s}\n`).join('');
}
