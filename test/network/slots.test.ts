/**
 * Real slots, as root, inside namespaces this test creates (support.ts): set-up, egress through
 * both NATs, ingress via the clone address, egress policy, isolation between slots, bridge mode,
 * injected failures, teardown. The real host is only read, and checked unchanged at the end.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { Hono } from 'hono';
import type { IgnitionError } from '../../platform/errors.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { needs, reportSkip } from '../support/needs.ts';
import { createHostShell, type HostShell } from '../../platform/network/host.ts';
import { NetworkService } from '../../platform/network/service.ts';
import { slotLayout } from '../../platform/network/slot.ts';
import { networkRoutes } from '../../platform/network/routes.ts';
import { INET_PEER, INET_SERVER, type TestNet, attachGuest, connect, createTestNet, destroyTestNet, listen, realHostFacts, sh } from './support.ts';

const skip = needs('root', 'ip', 'nft');
reportSkip('test/network/slots.test.ts', skip);
const it = skip ? test.skip : test;

let net: TestNet;
let dir: string;
let db: Database.Database;
let service: NetworkService;
let before: ReturnType<typeof realHostFacts>;
/** Test hook: a label prefix whose next run fails before reaching the shell. */
let failNext: string | null = null;

function wrap(real: HostShell): HostShell {
  return {
    hostNetns: real.hostNetns,
    run(label, script, opts) {
      if (failNext && label.startsWith(failNext)) {
        failNext = null;
        return Promise.reject(new Error(`injected failure at "${label}"`));
      }
      return real.run(label, script, opts);
    },
  };
}

function hostLinks(): string[] {
  return (JSON.parse(sh(net.host, 'ip', '-j', 'link', 'show')) as Array<{ ifname: string }>).map((l) => l.ifname);
}
function slotNamespaces(): string[] {
  return fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => new RegExp(`^${net.prefix}-\\d+$`).test(n)) : [];
}

test.before(async () => {
  if (skip) return;
  net = createTestNet();
  before = realHostFacts(net.prefix);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ign-net-'));
  db = new Database(path.join(dir, 'db.sqlite'));
  service = await NetworkService.open({
    db,
    config: { prefix: net.prefix, maxSlots: 16, bridgeSubnet: '10.203.0.0/28' },
    poolSize: 0,
    shell: wrap(createHostShell({ hostNetns: net.host })),
  });
});

test.after(async () => {
  if (skip) return;
  try {
    await service?.close({ purge: true });
  } finally {
    db?.close();
    destroyTestNet(net);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('a slot exists on the "host" exactly as slot.ts derives it', async () => {
  const lease = await service.acquire('vm-a');
  const s = slotLayout(service.config, lease.slot);
  assert.is(lease.netns, s.netns);
  assert.is(lease.tap, 'tap0');
  assert.is(lease.address, s.cloneAddress);
  assert.equal(lease.guest, { ip: '172.16.0.2', prefix: 30, gateway: '172.16.0.1', mac: '06:00:ac:10:00:02', mtu: 1500 });
  assert.ok(slotNamespaces().includes(s.netns));
  assert.match(sh(net.host, 'ip', '-br', 'addr', 'show', 'dev', s.hostVeth), `${s.hostVethIp}/30`);
  assert.match(sh(net.host, 'ip', 'route', 'show', `${s.cloneAddress}/32`), `via ${s.slotVethIp} dev ${s.hostVeth}`);
  assert.match(sh(s.netns, 'ip', '-br', 'addr', 'show', 'dev', 'tap0'), '172.16.0.1/30');
  assert.match(sh(s.netns, 'nft', 'list', 'table', 'ip', 'ignition'), `ip daddr ${s.cloneAddress} dnat to 172.16.0.2`);
  assert.match(sh(net.host, 'nft', 'list', 'table', 'inet', 'ignition'), 'masquerade');
});

it('guest → internet: egress through the slot NAT and the host NAT', async () => {
  const lease = service.leaseOf('vm-a')!;
  const guest = attachGuest(net, slotLayout(service.config, lease.slot));
  const server = await listen(net.inet, INET_SERVER);
  try {
    const r = await connect(guest, INET_SERVER, server.port);
    assert.ok(r.ok, `connect failed: ${r.code}`);
    // The internet sees the host's uplink address: both masquerades happened.
    assert.is(r.reply, '198.51.100.1');
  } finally {
    server.close();
  }
  // The guest may not open connections to the host itself.
  const onHost = await listen(net.host, '0.0.0.0');
  try {
    const toHost = await connect(guest, slotLayout(service.config, lease.slot).hostVethIp, onHost.port, 1500);
    assert.not.ok(toHost.ok, 'a guest connected to the host');
    assert.equal(onHost.from, []);
  } finally {
    onHost.close();
  }
});

it('internet → guest: ingress via the clone address, DNAT to the shared guest IP', async () => {
  const lease = service.leaseOf('vm-a')!;
  const guest = `${net.prefix}-g${lease.slot}`;
  const server = await listen(guest, '0.0.0.0');
  try {
    const fromInet = await connect(net.inet, lease.address, server.port);
    assert.ok(fromInet.ok, `connect from the internet failed: ${fromInet.code}`);
    assert.is(fromInet.reply, INET_PEER, 'the guest sees the real client address');
    const fromHost = await connect(net.host, lease.address, server.port);
    assert.ok(fromHost.ok, `connect from the host failed: ${fromHost.code}`);
    assert.is(fromHost.reply, slotLayout(service.config, lease.slot).hostVethIp);
  } finally {
    server.close();
  }
});

it('egress off is rejected in the slot; ingress still works; slots cannot reach each other', async () => {
  const lease = await service.acquire('vm-b', { egress: false, mtu: 1400 });
  assert.equal(lease.policy, { egress: false, mtu: 1400, mac: '06:00:ac:10:00:02' });
  const s = slotLayout(service.config, lease.slot);
  assert.match(sh(net.host, 'ip', 'link', 'show', 'dev', s.hostVeth), 'mtu 1400');
  const guest = attachGuest(net, s);
  const server = await listen(net.inet, INET_SERVER);
  const inGuest = await listen(guest, '0.0.0.0');
  const inA = await listen(`${net.prefix}-g${service.leaseOf('vm-a')!.slot}`, '0.0.0.0');
  try {
    const out = await connect(guest, INET_SERVER, server.port);
    assert.not.ok(out.ok, 'egress should be refused');
    assert.is(out.code, 'EHOSTUNREACH');
    assert.equal(server.from, []);
    const inn = await connect(net.inet, lease.address, inGuest.port);
    assert.ok(inn.ok, `ingress failed: ${inn.code}`);
    // vm-a has egress, but the host drops slot-to-slot traffic.
    const across = await connect(`${net.prefix}-g${service.leaseOf('vm-a')!.slot}`, lease.address, inGuest.port, 1500);
    assert.not.ok(across.ok, 'a guest reached another slot');
    assert.equal(inGuest.from, [INET_PEER]);
    assert.equal(inA.from, []);
  } finally {
    server.close();
    inGuest.close();
    inA.close();
  }
});

it('bridge mode: a TAP of ours on our bridge, with a unique address and MAC', async () => {
  const lease = await service.acquire('vm-plain', { mode: 'bridge' });
  assert.is(lease.kind, 'bridge');
  assert.is(lease.netns, null);
  assert.is(lease.tap, `${net.prefix}-t0`);
  assert.is(lease.guest.ip, '10.203.0.2');
  assert.is(lease.guest.mac, '06:00:0a:cb:00:02');
  assert.match(sh(net.host, 'ip', 'link', 'show', 'dev', lease.tap), `master ${net.prefix}-br0`);
  assert.match(sh(net.host, 'nft', 'list', 'set', 'inet', 'ignition', 'bridge_egress'), '10.203.0.2');
  assert.ok(await service.release('vm-plain'));
  assert.not.ok(hostLinks().includes(lease.tap));
  assert.not.match(sh(net.host, 'nft', 'list', 'set', 'inet', 'ignition', 'bridge_egress'), '10.203.0.2');
});

it('GET /v1/network lists slots, leases and holders', async () => {
  const res = await networkRoutes(service).request('/');
  assert.is(res.status, 200);
  const body = (await res.json()) as ReturnType<NetworkService['list']>;
  assert.equal(body.leases.map((l) => l.vmId).sort(), ['vm-a', 'vm-b']);
  assert.ok(body.slots.every((s) => s.state === 'leased' && s.netns?.startsWith(`${net.prefix}-`)));
  assert.is(body.capacity.clone, 16);
  const one = await networkRoutes(service).request('/leases/vm-b');
  assert.is(((await one.json()) as { policy: { egress: boolean } }).policy.egress, false);
  // Errors leave as IgnitionError; an edge like the daemon's maps them to problem+json.
  const edge = new Hono();
  edge.route('/', networkRoutes(service));
  edge.onError((err, c) => c.json({ code: (err as IgnitionError).code }, (err as IgnitionError).status as 404));
  const missing = await edge.request('/leases/nobody');
  assert.is(missing.status, 404);
  assert.equal(await missing.json(), { code: 'net_lease_not_found' });
});

it('a failure halfway through set-up leaves nothing and leaks no address', async () => {
  const next = slotLayout(service.config, 2);
  // A route already holding the slot's clone address makes the host batch fail after it created
  // the namespace and the veth pair: the rollback has real things to remove.
  sh(net.host, 'ip', 'route', 'add', `${next.cloneAddress}/32`, 'dev', 'lo');
  try {
    await service.acquire('vm-fail');
    assert.unreachable('acquire should fail');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'net_setup_failed');
    assert.is((err as { data: { rolledBack: boolean; slot: number } }).data.rolledBack, true);
    assert.is((err as { data: { slot: number } }).data.slot, 2);
    assert.match(String(((err as Error).cause as { data?: { stderr?: string } }).data?.stderr), 'File exists');
  } finally {
    sh(net.host, 'ip', 'route', 'del', `${next.cloneAddress}/32`, 'dev', 'lo');
  }
  assert.not.ok(slotNamespaces().includes(next.netns));
  assert.not.ok(hostLinks().includes(next.hostVeth));
  assert.is(service.leaseOf('vm-fail'), null);
  assert.not.ok(service.list().slots.some((s) => s.slot === 2));
  // The number was not leaked: the next acquire gets it.
  const again = await service.acquire('vm-c');
  assert.is(again.slot, 2);
  assert.ok(await service.release('vm-c'));
});

it('a failure applying a policy to a pooled slot removes that slot', async () => {
  const pooled = await NetworkService.open({
    db,
    config: { prefix: net.prefix, maxSlots: 16, bridgeSubnet: '10.203.0.0/28' },
    poolSize: 1,
    shell: wrap(createHostShell({ hostNetns: net.host })),
  });
  await pooled.reconcile(['vm-a', 'vm-b']);
  await pooled.poolSettled();
  const ready = pooled.list().slots.filter((s) => s.state === 'ready');
  assert.is(ready.length, 1);
  failNext = 'policy';
  try {
    await pooled.acquire('vm-d', { egress: false });
    assert.unreachable('acquire should fail');
  } catch (err) {
    assert.match((err as Error).message, 'injected failure');
  }
  assert.not.ok(slotNamespaces().includes(ready[0].netns!));
  assert.is(pooled.leaseOf('vm-d'), null);
  await pooled.poolSettled();
  // The pool is refilled after the failure; close() tears its ready slots down again.
  await pooled.close();
  assert.equal(
    pooled.list().slots.filter((s) => s.state !== 'leased'),
    [],
  );
});

it('release tears down; teardown is idempotent; purge leaves nothing of ours', async () => {
  const a = service.leaseOf('vm-a')!;
  assert.ok(await service.release('vm-a'));
  assert.not.ok(await service.release('vm-a'));
  assert.not.ok(slotNamespaces().includes(a.netns!));
  // Destroying an already-destroyed slot succeeds.
  await service.close({ purge: true });
  await service.close({ purge: true });
  assert.equal(slotNamespaces(), []);
  assert.equal(
    hostLinks().filter((l) => l.startsWith(`${net.prefix}-`)),
    [],
  );
  let table = '';
  try {
    table = sh(net.host, 'nft', 'list', 'table', 'inet', 'ignition');
  } catch {
    table = '(absent)';
  }
  assert.is(table, '(absent)');
  assert.equal(service.list().slots, []);
});

it('the real host was never touched', () => {
  assert.equal(realHostFacts(net.prefix), before);
});

test.run();
