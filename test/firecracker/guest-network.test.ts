/**
 * The host side of a VM's guest network, without root: the kernel argument a boot gets, the agent
 * request a restore sends (asserted on the wire: the bytes that reach a stand-in guest's vsock
 * socket through the real handshake), how each answer is taken, the `lease → attachment` mapping,
 * and the VMM command lines that run Firecracker inside a slot's namespace.
 */
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { attachmentOf } from '../../platform/network/attach.ts';
import type { NetworkLease } from '../../platform/network/views.ts';
import { guestBootArgs, guestNetworkStep, ignitionIpArg, restoreNetworkRequest, settleGuestNetwork } from '../../platform/vmm/firecracker/guest-network.ts';
import { findNsenter, vmmCommand } from '../../platform/vmm/firecracker/netns.ts';
import type { NetworkAttachment } from '../../platform/vmm/firecracker/options.ts';
import { DEFAULT_BOOT_ARGS } from '../../platform/vmm/firecracker/options.ts';
import { AGENT_PORT } from '../../platform/vmm/port.ts';

const slotGuest = { ip: '172.16.0.2', prefix: 30, gateway: '172.16.0.1', mac: '06:00:ac:10:00:02', mtu: 1500 };
const slot: NetworkAttachment = { ifaceId: 'eth0', hostDevName: 'tap0', mode: 'slot', netns: '/run/netns/ign-5', guest: slotGuest, release: () => undefined };
const bridge: NetworkAttachment = {
  ifaceId: 'eth0',
  hostDevName: 'ign-t3',
  mode: 'bridge',
  guest: { ip: '10.203.0.5', prefix: 24, gateway: '10.203.0.1', mac: '06:00:0a:cb:00:05', mtu: 1400 },
  release: () => undefined,
};

test('a boot in a slot puts the slot’s guest address on the kernel command line', () => {
  assert.is(ignitionIpArg(slotGuest), 'ignition.ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off');
  assert.is(guestBootArgs(DEFAULT_BOOT_ARGS, slot), `${DEFAULT_BOOT_ARGS} ignition.ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off`);
  // A policy MTU other than Ethernet's default goes on the command line too (init sets it).
  assert.is(guestBootArgs(DEFAULT_BOOT_ARGS, bridge), `${DEFAULT_BOOT_ARGS} ignition.ip=10.203.0.5::10.203.0.1:255.255.255.0::eth0:off ignition.mtu=1400`);
  // No network, or no address from the provider: the command line is left alone.
  assert.is(guestBootArgs(DEFAULT_BOOT_ARGS, undefined), DEFAULT_BOOT_ARGS);
  assert.is(guestBootArgs(DEFAULT_BOOT_ARGS, { ...slot, guest: undefined }), DEFAULT_BOOT_ARGS);
  // Name servers fill the dns0 and dns1 fields; init writes them into /etc/resolv.conf.
  assert.is(ignitionIpArg({ ...slotGuest, dns: ['9.9.9.9'] }), 'ignition.ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off:9.9.9.9');
  assert.is(
    guestBootArgs(DEFAULT_BOOT_ARGS, { ...slot, guest: { ...slotGuest, dns: ['9.9.9.9', '1.1.1.1'] } }),
    `${DEFAULT_BOOT_ARGS} ignition.ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off:9.9.9.9:1.1.1.1`,
  );
  // An operator's own ignition.ip wins.
  const own = `${DEFAULT_BOOT_ARGS} ignition.ip=10.9.9.2::10.9.9.1:255.255.255.0::eth0:off`;
  assert.is(guestBootArgs(own, slot), own);
});

test('after a restore: a slot clone only flushes its neighbours; a bridge clone takes its lease', () => {
  assert.equal(restoreNetworkRequest(slot, 'vm_a'), { iface: 'eth0', mtu: 1500 });
  assert.equal(restoreNetworkRequest({ ...slot, guest: undefined }, 'vm_a'), { iface: 'eth0' });
  assert.equal(restoreNetworkRequest(bridge, 'vm_b'), { iface: 'eth0', address: '10.203.0.5/24', gateway: '10.203.0.1', mac: '06:00:0a:cb:00:05', mtu: 1400 });
  // Today's name servers go along, since the snapshot's resolv.conf has its golden's.
  const dns = ['192.0.2.53'];
  assert.equal(restoreNetworkRequest({ ...slot, guest: { ...slotGuest, dns } }, 'vm_a'), { iface: 'eth0', mtu: 1500, dns });
  assert.equal(restoreNetworkRequest({ ...bridge, guest: { ...bridge.guest!, dns } }, 'vm_b').dns, dns);
  assert.equal(restoreNetworkRequest({ ...slot, guest: { ...slotGuest, dns: [] } }, 'vm_a'), { iface: 'eth0', mtu: 1500 }, 'none: not named');
  // Without a slot and without an address the clone would keep the snapshot's: refused.
  assert.throws(() => restoreNetworkRequest({ ...bridge, guest: undefined }, 'vm_c'), /vm_c .*no guest address/);
  // An attachment without `mode` (an older provider) is a TAP of its own.
  assert.throws(() => restoreNetworkRequest({ ifaceId: 'eth0', hostDevName: 'tap9', release: () => undefined }, 'vm_d'), /vm_d/);
});

const lease = (kind: 'clone' | 'bridge'): NetworkLease => ({
  vmId: 'vm_x',
  kind,
  slot: 5,
  netns: kind === 'clone' ? 'ign-5' : null,
  tap: kind === 'clone' ? 'tap0' : 'ign-t5',
  guest: kind === 'clone' ? slotGuest : { ...bridge.guest! },
  address: kind === 'clone' ? '10.202.0.6' : '10.203.0.5',
  policy: { egress: true, mtu: 1500, mac: '06:00:ac:10:00:02' },
  leasedAt: 0,
});

test('a lease becomes an attachment: slot namespace, or the host (stand-in) for a bridge TAP', async () => {
  let released = 0;
  const a = attachmentOf(lease('clone'), undefined, async () => void released++, ['9.9.9.9']);
  assert.equal(
    { ...a, release: undefined },
    {
      ifaceId: 'eth0',
      hostDevName: 'tap0',
      guestMac: '06:00:ac:10:00:02',
      mode: 'slot',
      netns: '/run/netns/ign-5',
      // The network's name servers go with the guest's address onto the boot line.
      guest: { ...slotGuest, dns: ['9.9.9.9'] },
      release: undefined,
    },
  );
  await a.release();
  assert.is(released, 1);
  // A slot's namespace is its own even when a namespace stands in for the host.
  assert.is(attachmentOf(lease('clone'), 't1-host', async () => undefined).netns, '/run/netns/ign-5');
  const b = attachmentOf(lease('bridge'), undefined, async () => undefined);
  assert.is(b.mode, 'bridge');
  assert.is(b.netns, undefined, 'a bridge TAP is in the daemon’s own namespace');
  assert.is(b.hostDevName, 'ign-t5');
  assert.is(attachmentOf(lease('bridge'), 't1-host', async () => undefined).netns, '/run/netns/t1-host');
});

test('VMM command lines: direct, inside a slot (nsenter, same pid), jailed with the slot’s --netns', () => {
  const fc = ['--api-sock', '/w/api.sock'];
  assert.equal(vmmCommand({ binary: '/opt/fc', vmId: 'vm_1' }, fc), { file: '/opt/fc', args: ['--id', 'vm-1', ...fc] });
  assert.equal(vmmCommand({ binary: '/opt/fc', vmId: 'vm_1', netns: '/run/netns/ign-5', nsenter: '/usr/bin/nsenter' }, fc), {
    file: '/usr/bin/nsenter',
    args: ['--net=/run/netns/ign-5', '--', '/opt/fc', '--id', 'vm-1', ...fc],
  });
  const jailer = { binary: '/usr/bin/jailer', uid: 1000, gid: 1000, chrootBaseDir: '/srv/j', netns: '/run/netns/everyone' };
  const jailed = vmmCommand({ binary: '/opt/fc', vmId: 'vm_1', jailer, netns: '/run/netns/ign-5' }, fc);
  assert.is(jailed.file, '/usr/bin/jailer');
  assert.is(jailed.args[jailed.args.indexOf('--netns') + 1], '/run/netns/ign-5', 'the slot wins over a configured namespace');
  assert.is(jailed.args.filter((a) => a === '--netns').length, 1);
  const plain = vmmCommand({ binary: '/opt/fc', vmId: 'vm_1', jailer }, fc);
  assert.is(plain.args[plain.args.indexOf('--netns') + 1], '/run/netns/everyone');
  assert.throws(() => vmmCommand({ binary: '/opt/fc', vmId: 'vm_1', netns: 'ign-5' }, fc), /not absolute/);
  assert.throws(
    () => findNsenter('/nonexistent-dir'),
    (e: Error & { code?: string }) => e.code === 'fc_binary_missing' && /util-linux/.test(e.message),
  );
});

interface Seen {
  /** Every byte the host sent on this connection, handshake included, exactly as it crossed. */
  wire: string;
  /** The HTTP request after the handshake, split as the agent's parser would split it. */
  requestLine?: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * A stand-in guest: a Unix socket that plays Firecracker's half of the vsock handshake and then
 * reads one HTTP request off the raw stream and answers `reply`, so the assertions see the bytes
 * and not what a server library made of them.
 */
async function standInGuest(reply: { status: number; body: unknown }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-gn-'));
  const vsock = path.join(dir, 'v.sock');
  const seen: Seen[] = [];
  const server = net.createServer((socket) => {
    const s: Seen = { wire: '' };
    seen.push(s);
    let acked = false;
    socket.on('data', (d) => {
      s.wire += d.toString('latin1');
      if (!acked) {
        const nl = s.wire.indexOf('\n');
        if (nl === -1) return;
        if (s.wire.slice(0, nl) !== `CONNECT ${AGENT_PORT}`) return void socket.end();
        acked = true;
        socket.write('OK 1073741824\n');
      }
      const http = s.wire.slice(s.wire.indexOf('\n') + 1);
      const end = http.indexOf('\r\n\r\n');
      if (end === -1 || s.body !== undefined) return;
      const [requestLine, ...lines] = http.slice(0, end).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const length = Number(headers['content-length'] ?? 0);
      if (http.length < end + 4 + length) return;
      Object.assign(s, { requestLine, headers, body: http.slice(end + 4, end + 4 + length) });
      const text = JSON.stringify(reply.body);
      const type = reply.status === 200 ? 'application/json' : 'application/problem+json';
      socket.end(`HTTP/1.1 ${reply.status} X\r\ncontent-type: ${type}\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(vsock, r));
  return {
    vsock,
    seen,
    close: () => {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('a slot clone’s flush on the wire: CONNECT 52, then POST /v1/network with {iface, mtu}', async () => {
  const g = await standInGuest({ status: 200, body: { ok: true, applied: ['link set dev eth0 mtu 1500', 'neighbour flush dev eth0'], ms: 1 } });
  try {
    assert.is(await settleGuestNetwork(g.vsock, slot, 'vm_a', 5000), 'flushed');
    assert.is(g.seen.length, 1, 'one connection');
    const s = g.seen[0];
    assert.ok(s.wire.startsWith(`CONNECT ${AGENT_PORT}\nPOST /v1/network HTTP/1.1\r\n`), s.wire);
    assert.is(s.requestLine, 'POST /v1/network HTTP/1.1');
    assert.is(s.headers?.['content-type'], 'application/json');
    assert.is(s.body, '{"iface":"eth0","mtu":1500}');
    assert.ok(s.wire.endsWith(`\r\n\r\n${s.body}`), 'the body is the last thing sent');
  } finally {
    g.close();
  }
});

test('a bridge clone’s re-address on the wire: address, gateway, MAC and MTU of its lease', async () => {
  const g = await standInGuest({ status: 200, body: { ok: true, applied: [], ms: 1 } });
  try {
    assert.is(await settleGuestNetwork(g.vsock, bridge, 'vm_b', 5000), 'readdressed');
    assert.equal(JSON.parse(g.seen[0].body!), { iface: 'eth0', address: '10.203.0.5/24', gateway: '10.203.0.1', mac: '06:00:0a:cb:00:05', mtu: 1400 });
  } finally {
    g.close();
  }
});

const unsupported = {
  type: 'urn:ignition:error:agent_unsupported',
  title: 'Agent error',
  status: 501,
  code: 'agent_unsupported',
  detail: 'network re-addressing is only available inside a microVM',
};

test('an agent that is no guest (501): a flush is moot, a re-address fails the restore', async () => {
  const g = await standInGuest({ status: 501, body: unsupported });
  try {
    assert.is(await settleGuestNetwork(g.vsock, slot, 'vm_a', 5000), 'not-a-guest');
    try {
      await settleGuestNetwork(g.vsock, bridge, 'vm_b', 5000);
      assert.unreachable();
    } catch (err) {
      assert.match(
        (err as Error).message,
        /agent of vm_b could not take the address 10\.203\.0\.5\/24 \(501 agent_unsupported\): network re-addressing is only available/,
      );
    }
  } finally {
    g.close();
  }
});

test('a guest whose ip fails (500) fails the step, with the agent’s detail', async () => {
  const g = await standInGuest({
    status: 500,
    body: { ...unsupported, status: 500, code: 'agent_network_failed', detail: 'ip -batch failed on eth0: Cannot find device "eth0"' },
  });
  try {
    await settleGuestNetwork(g.vsock, slot, 'vm_a', 5000);
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /vm_a could not flush its neighbour table \(500 agent_network_failed\): ip -batch failed on eth0: Cannot find device/);
  }
  // The step only runs for VMs with a network attachment.
  assert.is(guestNetworkStep.name, 'guest-network');
  assert.is(guestNetworkStep.when!({ net: undefined } as never), false);
  assert.is(guestNetworkStep.when!({ net: slot } as never), true);
  g.close();
});

test.run();
