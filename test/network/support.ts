/**
 * Namespaces the root network tests build, so that nothing touches the real host:
 *
 *   <p>-inet  "the internet": 198.51.100.2/24 on eth0, a server address 203.0.113.10 on lo
 *      │ veth
 *   <p>-host  plays the host: uplink 198.51.100.1/24, default route to <p>-inet; the service
 *      │      runs every host-side command in here (hostNetns)
 *      ├── <p>-0, <p>-1 …  slots created by the code under test
 *   <p>-gN    a guest: the test swaps a slot's TAP for a veth of the same name whose other end is
 *             eth0 in <p>-gN with the guest IP, so real packets flow where a VM's would
 *
 * Every name starts with a random per-run prefix <p>, so parallel runs and a real daemon's `ign-`
 * slots never collide, and `destroyTestNet` removes exactly this run's namespaces.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SlotLayout } from '../../platform/network/slot.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const INET_SERVER = '203.0.113.10';
export const INET_PEER = '198.51.100.2';
export const HOST_UPLINK = '198.51.100.1';

export interface TestNet {
  prefix: string;
  host: string;
  inet: string;
}

export function sh(ns: string | null, ...argv: string[]): string {
  const full = ns ? ['nsenter', `--net=/run/netns/${ns}`, ...argv] : argv;
  return execFileSync(full[0], full.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function ipBatch(ns: string, lines: string[]): void {
  execFileSync('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
}

/** Builds the host and internet namespaces for one test file. */
export function createTestNet(): TestNet {
  const prefix = `t${randomBytes(3).toString('hex').slice(0, 5)}`;
  const net = { prefix, host: `${prefix}-host`, inet: `${prefix}-inet` };
  execFileSync('ip', ['netns', 'add', net.host]);
  execFileSync('ip', ['netns', 'add', net.inet]);
  ipBatch(net.host, [
    'link set lo up',
    `link add up0 type veth peer name eth0 netns ${net.inet}`,
    `addr add ${HOST_UPLINK}/24 dev up0`,
    'link set up0 up',
    `route add default via ${INET_PEER}`,
  ]);
  ipBatch(net.inet, [
    'link set lo up',
    `addr add ${INET_SERVER}/32 dev lo`,
    `addr add ${INET_PEER}/24 dev eth0`,
    'link set eth0 up',
    // The internet knows how to reach the host's clone addresses (like a provider's route would).
    `route add 10.202.0.0/16 via ${HOST_UPLINK}`,
  ]);
  return net;
}

/** Removes every namespace whose name starts with this run's prefix. */
export function destroyTestNet(net: TestNet): void {
  for (const ns of sh(null, 'ip', 'netns', 'list').split('\n')) {
    const name = ns.split(' ')[0];
    if (name && name.startsWith(`${net.prefix}-`)) execFileSync('ip', ['netns', 'del', name]);
  }
}

/** Replaces slot `s`'s TAP with a veth whose far end is the guest's eth0 in a new namespace. */
export function attachGuest(net: TestNet, s: SlotLayout): string {
  const guest = `${net.prefix}-g${s.slot}`;
  execFileSync('ip', ['netns', 'add', guest]);
  ipBatch(s.netns, [
    `link del ${s.tap}`,
    `link add ${s.tap} type veth peer name eth0 netns ${guest}`,
    `addr add ${s.gatewayIp}/${s.guestPrefix} dev ${s.tap}`,
    `link set ${s.tap} up`,
  ]);
  ipBatch(guest, ['link set lo up', `addr add ${s.guestIp}/${s.guestPrefix} dev eth0`, 'link set eth0 up', `route add default via ${s.gatewayIp}`]);
  return guest;
}

function peer(ns: string, args: string[]) {
  return spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, '--import', 'tsx', path.join(here, 'tcp-peer.ts'), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

export interface Listener {
  port: number;
  /** Peer addresses seen so far. */
  from: string[];
  close(): void;
}

/** Starts a TCP listener inside `ns`. */
export function listen(ns: string, host: string): Promise<Listener> {
  const child = peer(ns, ['listen', host]);
  const from: string[] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`listener in ${ns} exited ${code}`)));
    child.stdout!.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i)) as { port?: number; from?: string };
        buf = buf.slice(i + 1);
        if (msg.port) resolve({ port: msg.port, from, close: () => child.kill() });
        if (msg.from) from.push(msg.from);
      }
    });
  });
}

export interface NameServer {
  /** The questions asked so far. */
  queries: Array<{ query: string; type: number }>;
  close(): void;
}

/** Starts a name server inside `ns` on `host`:53 that answers `name` with `address` (dns-peer.ts). */
export function nameServer(ns: string, host: string, name: string, address: string): Promise<NameServer> {
  const child = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, '--import', 'tsx', path.join(here, 'dns-peer.ts'), host, name, address], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const queries: NameServer['queries'] = [];
  return new Promise((resolve, reject) => {
    let buf = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`name server in ${ns} exited ${code}`)));
    child.stdout!.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i)) as { ready?: boolean; query?: string; type?: number };
        buf = buf.slice(i + 1);
        if (msg.ready) resolve({ queries, close: () => child.kill() });
        if (msg.query !== undefined) queries.push({ query: msg.query, type: msg.type! });
      }
    });
  });
}

export interface ConnectResult {
  ok: boolean;
  reply?: string;
  code?: string;
}

/** Connects from inside `ns`; resolves with what happened. */
export function connect(ns: string, host: string, port: number, timeoutMs = 3000): Promise<ConnectResult> {
  const child = peer(ns, ['connect', host, String(port), String(timeoutMs)]);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as ConnectResult);
      } catch (err) {
        reject(new Error(`client in ${ns} printed ${JSON.stringify(out)}`, { cause: err }));
      }
    });
  });
}

/** Snapshot of what the real host has that these tests could conceivably have changed. */
export function realHostFacts(prefix: string): { ourLinks: string[]; forward: string; table: string } {
  const links = (JSON.parse(sh(null, 'ip', '-j', 'link', 'show')) as Array<{ ifname: string }>).map((l) => l.ifname);
  let table = '';
  try {
    table = sh(null, 'nft', 'list', 'table', 'inet', 'ignition');
  } catch {
    table = '(absent)';
  }
  return {
    ourLinks: links.filter((l) => l.startsWith(`${prefix}-`) || l === 'up0'),
    forward: sh(null, 'cat', '/proc/sys/net/ipv4/ip_forward').trim(),
    table,
  };
}
