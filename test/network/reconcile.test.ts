/**
 * Crash recovery, as root, inside namespaces this test creates: a service "crashes" (is dropped
 * without close) holding leases and pool slots; leftovers of ours and things that are not ours
 * are planted; a new service on the same database reconciles. Only our own leftovers go.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { needs, reportSkip } from '../support/needs.ts';
import { NetworkService } from '../../platform/network/service.ts';
import { slotLayout } from '../../platform/network/slot.ts';
import { applyNetworkMigrations } from '../../platform/network/schema.ts';
import { type TestNet, createTestNet, destroyTestNet, sh } from './support.ts';

const skip = needs('root', 'ip', 'nft');
reportSkip('test/network/reconcile.test.ts', skip);
const it = skip ? test.skip : test;

let net: TestNet;
let dir: string;

test.before(() => {
  if (skip) return;
  net = createTestNet();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ign-netrec-'));
});

test.after(() => {
  if (skip) return;
  destroyTestNet(net);
  fs.rmSync(dir, { recursive: true, force: true });
});

function namespaces(): string[] {
  return fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((n) => n.startsWith(`${net.prefix}-`)) : [];
}
function hostLinks(): string[] {
  return (JSON.parse(sh(net.host, 'ip', '-j', 'link', 'show')) as Array<{ ifname: string }>).map((l) => l.ifname);
}

it('reconcile after a crash removes exactly our orphans and keeps live leases', async () => {
  const file = path.join(dir, 'db.sqlite');
  const config = { prefix: net.prefix, maxSlots: 32, bridgeSubnet: '10.203.0.0/28' };
  const db1 = new Database(file);
  const first = await NetworkService.open({ db: db1, config, poolSize: 2, hostNetns: net.host });
  await first.reconcile([]);
  const live = await first.acquire('vm-live');
  const dead = await first.acquire('vm-dead');
  const deadBridge = await first.acquire('vm-dead-plain', { mode: 'bridge' });
  await first.poolSettled();
  const pooled = first
    .list()
    .slots.filter((s) => s.state === 'ready')
    .map((s) => s.slot);
  assert.is(pooled.length, 2);
  // Crash: the process dies without close(); its database file and host state stay.
  db1.close();

  // Leftovers of ours that no row accounts for: a half-made slot namespace, a stray veth (its peer
  // dies with it), and a
  // row stuck in `creating` whose namespace exists.
  execFileSync('ip', ['netns', 'add', `${net.prefix}-30`]);
  sh(net.host, 'ip', 'link', 'add', `${net.prefix}-v31`, 'type', 'veth', 'peer', 'name', 'stray0');
  const stuck = slotLayout(first.config, 29);
  execFileSync('ip', ['netns', 'add', stuck.netns]);
  const raw = new Database(file);
  applyNetworkMigrations(raw);
  raw.prepare("INSERT INTO net_slots (kind, slot, state, owner, created_at) VALUES ('clone', 29, 'creating', 'crashed-run', 0)").run();
  raw.close();
  // Things that are not ours must survive: another namespace, a link of a similar name.
  execFileSync('ip', ['netns', 'add', `${net.prefix}-other`]);
  sh(net.host, 'ip', 'link', 'add', `${net.prefix}x-v5`, 'type', 'veth', 'peer', 'name', 'keep0');

  const db2 = new Database(file);
  const second = await NetworkService.open({ db: db2, config, poolSize: 2, hostNetns: net.host });
  const report = await second.reconcile(['vm-live']);
  assert.equal(report.releasedLeases.map((l) => l.vmId).sort(), ['vm-dead', 'vm-dead-plain']);
  assert.equal(report.staleSlots, [{ kind: 'clone', slot: 29, state: 'creating' }]);
  assert.equal(report.removedNamespaces, [`${net.prefix}-30`]);
  assert.equal(report.removedLinks, [`${net.prefix}-v31`]);
  assert.equal(report.brokenLeases, []);

  const ns = namespaces();
  assert.ok(ns.includes(live.netns!), 'the live VM keeps its slot');
  assert.not.ok(ns.includes(dead.netns!));
  assert.not.ok(ns.includes(stuck.netns));
  assert.not.ok(ns.includes(`${net.prefix}-30`));
  assert.ok(ns.includes(`${net.prefix}-other`), 'not ours: kept');
  const links = hostLinks();
  assert.not.ok(links.includes(deadBridge.tap));
  assert.ok(links.includes(`${net.prefix}x-v5`), 'not ours: kept');
  assert.ok(links.includes('keep0'), 'not ours: kept');
  assert.ok(links.includes(`${net.prefix}-br0`));
  assert.is(second.leaseOf('vm-live')!.slot, live.slot);
  // The crashed run's pool slots are adopted, not rebuilt.
  await second.poolSettled();
  const ready = second
    .list()
    .slots.filter((s) => s.state === 'ready')
    .map((s) => s.slot);
  assert.equal(ready, pooled);

  // Reconciling again finds nothing to do.
  const again = await second.reconcile(['vm-live']);
  assert.equal([again.releasedLeases, again.staleSlots, again.removedNamespaces, again.removedLinks, again.lostSlots], [[], [], [], [], []]);

  await second.close({ purge: true });
  db2.close();
  assert.equal(namespaces().sort(), [`${net.prefix}-host`, `${net.prefix}-inet`, `${net.prefix}-other`].sort());
});

it('after a host reboot (namespaces gone) pool rows are dropped and live leases reported broken', async () => {
  const file = path.join(dir, 'reboot.sqlite');
  const config = { prefix: net.prefix, maxSlots: 32, bridgeSubnet: null };
  const db1 = new Database(file);
  const first = await NetworkService.open({ db: db1, config, poolSize: 1, hostNetns: net.host });
  await first.reconcile([]);
  const lease = await first.acquire('vm-1');
  await first.poolSettled();
  db1.close();
  // "Reboot": every slot namespace and veth vanishes.
  for (const n of namespaces().filter((n) => /-\d+$/.test(n))) execFileSync('ip', ['netns', 'del', n]);
  const db2 = new Database(file);
  const second = await NetworkService.open({ db: db2, config, poolSize: 0, hostNetns: net.host });
  const report = await second.reconcile(['vm-1']);
  assert.equal(report.lostSlots.length, 1);
  assert.equal(report.brokenLeases, [{ vmId: 'vm-1', kind: 'clone', slot: lease.slot }]);
  await second.close({ purge: true });
  db2.close();
});

it('missing tools or privileges are typed errors at start', async () => {
  const db = new Database(path.join(dir, 'tools.sqlite'));
  const saved = process.env.PATH;
  process.env.PATH = path.join(dir, 'empty-bin');
  try {
    await NetworkService.open({ db, hostNetns: net.host });
    assert.unreachable('open should fail without tools');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'net_tools_missing');
    assert.match((err as Error).message, 'apt-get install -y iproute2 nftables util-linux dash');
  } finally {
    process.env.PATH = saved;
    db.close();
  }
});

test.run();
