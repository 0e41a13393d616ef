/** IPAM on a real SQLite file: allocation, persistence across reopen, reclaim, and two processes at once. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ipam } from '../../platform/network/ipam.ts';
import { applyNetworkMigrations, networkMigrations } from '../../platform/network/schema.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ign-ipam-'));
const policy = { egress: true, mtu: 1500, mac: '06:00:ac:10:00:02' };
let n = 0;

function open(file = path.join(dir, `db-${++n}.sqlite`)): { db: Database.Database; file: string } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  applyNetworkMigrations(db);
  return { db, file };
}

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('migrations are exported with stable ids and are idempotent', () => {
  assert.equal(
    networkMigrations.map((m) => m.id),
    ['network-001'],
  );
  const { db } = open();
  applyNetworkMigrations(db); // a second application must not fail
  db.close();
});

test('reserve takes the lowest free number and fills gaps', () => {
  const { db } = open();
  const ipam = new Ipam(db, { clone: 10, bridge: 2 });
  assert.equal(
    [0, 1, 2, 3].map(() => ipam.reserve('clone', 'me').slot),
    [0, 1, 2, 3],
  );
  ipam.free('clone', 1);
  assert.is(ipam.reserve('clone', 'me').slot, 1);
  assert.is(ipam.reserve('clone', 'me').slot, 4);
  ipam.free('clone', 0);
  assert.is(ipam.reserve('clone', 'me').slot, 0);
  // kinds are numbered independently
  assert.is(ipam.reserve('bridge', 'me').slot, 0);
  db.close();
});

test('exhaustion is a typed error and leaks nothing', () => {
  const { db } = open();
  const ipam = new Ipam(db, { clone: 2, bridge: 0 });
  ipam.reserve('clone', 'me');
  ipam.reserve('clone', 'me');
  try {
    ipam.reserve('clone', 'me', 'vm-x');
    assert.unreachable('third reserve should fail');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'net_exhausted');
  }
  assert.is(ipam.list().length, 2);
  assert.is(ipam.byVm('vm-x'), null);
  db.close();
});

test('pool path: creating → ready → leased → ready, one lease per VM', () => {
  const { db } = open();
  const ipam = new Ipam(db, { clone: 10, bridge: 0 });
  const a = ipam.reserve('clone', 'me');
  assert.is(ipam.takeReady('clone', 'vm-1'), null, 'a creating slot is not in the pool yet');
  ipam.markCreated('clone', a.slot, policy);
  const leased = ipam.takeReady('clone', 'vm-1')!;
  assert.is(leased.slot, a.slot);
  assert.is(leased.state, 'leased');
  assert.is(leased.vmId, 'vm-1');
  assert.ok(leased.leasedAt);
  try {
    ipam.reserve('clone', 'me', 'vm-1');
    assert.unreachable();
  } catch (err) {
    assert.is((err as { code?: string }).code, 'net_lease_exists');
  }
  ipam.returnToPool('clone', a.slot, policy);
  assert.is(ipam.get('clone', a.slot)!.state, 'ready');
  assert.is(ipam.byVm('vm-1'), null);
  // on-demand path: reserved for a VM, becomes leased directly
  const b = ipam.reserve('clone', 'me', 'vm-2');
  ipam.markCreated('clone', b.slot, policy);
  assert.is(ipam.byVm('vm-2')!.state, 'leased');
  assert.equal(ipam.byVm('vm-2')!.policy, policy);
  db.close();
});

test('transfer hands a lease to another VM unchanged; never onto a holder, never from a non-holder', () => {
  const { db } = open();
  const ipam = new Ipam(db, { clone: 10, bridge: 0 });
  const a = ipam.reserve('clone', 'me', 'spare-1');
  ipam.markCreated('clone', a.slot, policy);
  const b = ipam.reserve('clone', 'me', 'vm-b');
  ipam.markCreated('clone', b.slot, policy);
  try {
    ipam.transfer('spare-1', 'vm-b');
    assert.unreachable('vm-b holds a lease already');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'net_lease_exists');
  }
  assert.is(ipam.byVm('spare-1')!.slot, a.slot, 'a refused transfer changes nothing');
  const moved = ipam.transfer('spare-1', 'vm-a')!;
  assert.is(moved.slot, a.slot);
  assert.is(moved.vmId, 'vm-a');
  assert.is(moved.state, 'leased');
  assert.equal(moved.policy, policy);
  assert.is(ipam.byVm('spare-1'), null);
  assert.is(ipam.transfer('spare-1', 'vm-c'), null, 'nothing left to hand over');
  db.close();
});

test('leases persist across a restart (reopen the file)', () => {
  const { db, file } = open();
  const ipam = new Ipam(db, { clone: 10, bridge: 0 });
  const row = ipam.reserve('clone', 'run-1', 'vm-keep');
  ipam.markCreated('clone', row.slot, policy);
  ipam.reserve('clone', 'run-1');
  db.close();
  const again = new Database(file);
  const ipam2 = new Ipam(again, { clone: 10, bridge: 0 });
  assert.is(ipam2.byVm('vm-keep')!.slot, row.slot);
  assert.is(ipam2.byVm('vm-keep')!.state, 'leased');
  assert.is(ipam2.reserve('clone', 'run-2').slot, 2, 'numbers held before the restart are not reused');
  assert.equal(
    ipam2.staleRows('run-2').map((r) => [r.slot, r.state]),
    [[1, 'creating']],
  );
  again.close();
});

test('reclaim releases exactly the leases of VMs that no longer exist', () => {
  const { db } = open();
  const ipam = new Ipam(db, { clone: 10, bridge: 0 });
  for (const vm of ['vm-a', 'vm-b', 'vm-c']) ipam.markCreated('clone', ipam.reserve('clone', 'me', vm).slot, policy);
  const pooled = ipam.reserve('clone', 'me');
  ipam.markCreated('clone', pooled.slot, policy);
  const dead = ipam.reclaim(['vm-b']);
  assert.equal(dead.map((r) => r.vmId).sort(), ['vm-a', 'vm-c']);
  assert.is(ipam.byVm('vm-a'), null);
  assert.is(ipam.byVm('vm-b')!.state, 'leased');
  assert.is(ipam.get('clone', pooled.slot)!.state, 'ready', 'pool slots are not leases');
  // Reclaimed numbers stay taken until their host resources are gone and the service frees them.
  assert.is(ipam.get('clone', dead[0].slot)!.state, 'destroying');
  assert.is(ipam.reserve('clone', 'me').slot, 4);
  for (const r of dead) ipam.free(r.kind, r.slot);
  assert.is(ipam.reserve('clone', 'me').slot, dead.map((r) => r.slot).sort()[0]);
  db.close();
});

interface Worker {
  ready: Promise<void>;
  done: Promise<{ got: number[]; exhausted: number }>;
}

function worker(file: string, count: number, capacity: number, owner: string): Worker {
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const done = new Promise<{ got: number[]; exhausted: number }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'ipam-worker.ts'), file, String(count), String(capacity), owner], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.startsWith('ready\n')) onReady();
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.slice('ready\n'.length))) : reject(new Error(`worker ${owner} exited ${code}`))));
  });
  return { ready, done };
}

test('two processes allocating from one file never get the same slot', async () => {
  const { db, file } = open();
  db.close();
  const capacity = 250;
  const workers = [worker(file, 150, capacity, 'p1'), worker(file, 150, capacity, 'p2')];
  // Release both loops together once both processes have loaded (correctness does not depend on it).
  await Promise.all(workers.map((w) => w.ready));
  fs.writeFileSync(`${file}.go`, '');
  const [a, b] = await Promise.all(workers.map((w) => w.done));
  const all = [...a.got, ...b.got];
  assert.is(all.length, capacity, 'exactly the capacity was handed out');
  assert.is(new Set(all).size, capacity, 'no slot twice');
  assert.is(a.exhausted + b.exhausted, 300 - capacity);
  const check = new Database(file);
  const rows = check.prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT vm_id) AS vms FROM net_slots').get() as { n: number; vms: number };
  check.close();
  assert.equal(rows, { n: capacity, vms: capacity });
});

test.run();
