/**
 * Clones with network through the Firecracker driver, against the fake Firecracker, with real
 * slots inside namespaces this test creates (support.ts: a namespace plays the host). Each VMM
 * must run inside its own slot's namespace (the fake writes its namespace into every trace line,
 * and /proc/<pid>/ns/net says the same), every slot's TAP has the same name, destroying a clone
 * frees its slot and lease, and a restore or fork that fails part-way leaves nothing behind. A
 * clone outside a slot (bridge mode) must be re-addressed, which the fake's agent (no guest)
 * refuses: that restore fails at its guest-network step and is unwound too.
 *
 * Root only. The real host is only read: its nft tables, links and ip_forward are compared before
 * and after.
 */
import { existsSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { attachmentOf, networkProvider } from '../../platform/network/attach.ts';
import { NetworkService } from '../../platform/network/service.ts';
import { FirecrackerDriver, type FirecrackerMachine } from '../../platform/vmm/firecracker/driver.ts';
import { newContext, unwind } from '../../platform/vmm/firecracker/flow.ts';
import { guestNetworkStep, settleGuestNetwork } from '../../platform/vmm/firecracker/guest-network.ts';
import { findNsenter } from '../../platform/vmm/firecracker/netns.ts';
import { resolveOptions, type FirecrackerDriverOptions } from '../../platform/vmm/firecracker/options.ts';
import { RESTORE_STEPS, runRestore } from '../../platform/vmm/firecracker/restore.ts';
import type { BootSpec, SnapshotFiles } from '../../platform/vmm/port.ts';
import type { IgnitionError } from '../../platform/errors.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { AGENT_BUILT, AGENT_FIX, FAKE_BINARY, makeAssets, readTrace, settleProcesses, type TestAssets } from '../firecracker/support.ts';
import { type TestNet, createTestNet, destroyTestNet, realHostFacts, sh } from './support.ts';

function nsenterSkip(): string | null {
  try {
    findNsenter();
    return null;
  } catch {
    return 'needs nsenter: apt-get install -y util-linux';
  }
}
const skip = needs('root', 'ip', 'nft') ?? nsenterSkip() ?? (AGENT_BUILT ? null : AGENT_FIX);
reportSkip('test/network/firecracker-clones.test.ts', skip);
const it = skip ? test.skip : test;

// A busy CI machine starts the fake (Node through tsx) slowly; nothing here is timed.
const slow = { startTimeoutMs: 60_000, bootAgentTimeoutMs: 60_000, restoreAgentTimeoutMs: 60_000, apiTimeoutMs: 30_000 };
/** Source plus three clones fit; a fourth clone does not (the fork test relies on it). */
const MAX_SLOTS = 4;

let net: TestNet;
let a: TestAssets;
let db: Database.Database;
let service: NetworkService;
let driver: FirecrackerDriver;
let trace: string;
let source: FirecrackerMachine;
let snapshot: SnapshotFiles;
let before: { facts: ReturnType<typeof realHostFacts>; tables: string; links: string[] };

const hostFacts = () => ({
  facts: realHostFacts(net.prefix),
  tables: sh(null, 'nft', 'list', 'tables'),
  links: (JSON.parse(sh(null, 'ip', '-j', 'link', 'show')) as Array<{ ifname: string }>).map((l) => l.ifname).sort(),
});
const baseOptions = (): FirecrackerDriverOptions => ({ binary: FAKE_BINARY, kernel: a.kernel, rootfs: a.rootfs, env: { IGNITION_FC_TRACE: trace }, ...slow });
const spec = (id: string, network = true): BootSpec => ({ id, workspace: path.join(a.root, 'ws', id), memoryMiB: 64, vcpus: 1, env: {}, network, labels: {} });
/** `net:[<inode>]` of a named namespace, as /proc/<pid>/ns/net would name it. */
const nsId = (name: string) => `net:[${statSync(`/run/netns/${name}`).ino}]`;
const slotNamespaces = () =>
  existsSync('/run/netns')
    ? readdirSync('/run/netns')
        .filter((n) => new RegExp(`^${net.prefix}-\\d+$`).test(n))
        .sort()
    : [];
/** The fakes' trace: every API request, with the namespace of the VMM that served it. */
const traced = () => readTrace(trace) as Array<{ method: string; path: string; body: any; netns: string }>;
const loads = () => traced().filter((c) => c.path === '/snapshot/load');

test.before(async () => {
  if (skip) return;
  net = createTestNet();
  before = hostFacts();
  a = makeAssets('fcn-');
  trace = path.join(a.root, 'trace.jsonl');
  db = new Database(path.join(a.root, 'net.sqlite'));
  service = await NetworkService.open({
    db,
    config: { prefix: net.prefix, maxSlots: MAX_SLOTS, bridgeSubnet: '10.203.0.0/28', dns: ['192.0.2.53'] },
    poolSize: 0,
    hostNetns: net.host,
  });
  driver = new FirecrackerDriver({ ...baseOptions(), network: networkProvider(() => service) });
});

test.after(async () => {
  if (skip) return;
  try {
    await driver?.close();
    await source?.destroy();
    await service?.close({ purge: true });
    db?.close();
    assert.equal(await settleProcesses(a.root), [], 'no VMM or agent left');
  } finally {
    destroyTestNet(net);
    a?.cleanup();
  }
  assert.equal(hostFacts(), before, 'the real host’s links, nft tables and ip_forward are unchanged');
});

it('a booted VM runs in a slot: its VMM in the slot’s namespace, its NIC on the slot’s TAP', async () => {
  source = await driver.boot(spec('vm_src'));
  const lease = service.leaseOf('vm_src');
  assert.ok(lease, 'the source holds a lease');
  assert.is(lease!.kind, 'clone');
  const id = nsId(lease!.netns!);
  assert.is.not(id, readlinkSync('/proc/self/ns/net'), 'not this test’s (the host’s) namespace');
  assert.is(readlinkSync(`/proc/${source.pid}/ns/net`), id, 'nsenter exec’d Firecracker in place: same pid, slot namespace');
  const calls = traced();
  assert.ok(calls.length > 0);
  assert.equal([...new Set(calls.map((c) => c.netns))], [id], 'every API call was served inside the slot');
  const nic = calls.find((c) => c.path === '/network-interfaces/eth0');
  assert.equal(nic?.body, { iface_id: 'eth0', host_dev_name: 'tap0', guest_mac: '06:00:ac:10:00:02' });
  assert.match(sh(lease!.netns, 'ip', '-br', 'address', 'show', 'dev', 'tap0'), '172.16.0.1/30', 'the TAP is in the slot, with the gateway address');
  // The guest's address and name server are on the kernel command line (init writes its
  // resolv.conf from it), so the golden holds the slot's address.
  const bootSource = calls.find((c) => c.path === '/boot-source');
  assert.match(bootSource?.body.boot_args, /(^| )ignition\.ip=172\.16\.0\.2::172\.16\.0\.1:255\.255\.255\.252::eth0:off:192\.0\.2\.53( |$)/);
  snapshot = await source.snapshot(path.join(a.root, 'snap'));
});

it('clones restore into distinct slots, each VMM in its own namespace, all on the same TAP name', async () => {
  rmSync(trace, { force: true });
  const clones = await Promise.all(['vm_c1', 'vm_c2', 'vm_c3'].map((id) => driver.restore({ ...spec(id), snapshot })));
  try {
    const leases = clones.map((c) => service.leaseOf(c.id)!);
    assert.ok(leases.every((l) => l && l.kind === 'clone'));
    const ids = leases.map((l) => nsId(l.netns!));
    assert.is(new Set([...ids, nsId(service.leaseOf('vm_src')!.netns!)]).size, 4, 'four VMs, four namespaces');
    clones.forEach((c, i) => assert.is(readlinkSync(`/proc/${c.pid}/ns/net`), ids[i], `${c.id} runs in its slot`));
    // Restores of VMs with network end by settling the guest's network (a flush in a slot).
    for (const c of clones)
      assert.equal(
        c.timings.slice(-3).map((x) => x.step),
        ['snapshot-load', 'agent-health', 'guest-network'],
      );
    // One load per clone, each served inside a different slot, each naming the same TAP.
    const l = loads();
    assert.equal(l.map((x) => x.netns).sort(), [...ids].sort());
    for (const x of l) assert.equal(x.body.network_overrides, [{ iface_id: 'eth0', host_dev_name: 'tap0' }]);
    for (const lease of leases) {
      assert.is(lease.tap, 'tap0');
      assert.is(lease.guest.ip, '172.16.0.2', 'every slot gives the guest the golden’s address');
      assert.match(sh(lease.netns, 'ip', '-br', 'link', 'show', 'dev', 'tap0'), /^tap0\s/);
    }
    // After resume: a slot clone only flushes its neighbours; the fake's agent is no guest (501).
    const att = attachmentOf(leases[0], service.hostNetns, async () => undefined);
    assert.is(await settleGuestNetwork(clones[0].vsockPath, att, clones[0].id, 10_000), 'not-a-guest');
  } finally {
    await Promise.all(clones.map((c) => c.destroy()));
  }
  for (const c of clones) assert.is(service.leaseOf(c.id), null, `${c.id}'s lease is released`);
  assert.equal(slotNamespaces(), [service.leaseOf('vm_src')!.netns], 'only the source’s slot is left');
  assert.equal(
    service.list().slots.map((s) => s.vmId),
    ['vm_src'],
    'the slot numbers are free again',
  );
  assert.equal(await settleProcesses(path.join(a.root, 'ws', 'vm_c1')), []);
});

it('a restore that dies at snapshot-load leaves no lease, slot, process or workspace', async () => {
  const failing = new FirecrackerDriver({
    ...baseOptions(),
    env: { IGNITION_FC_TRACE: trace, IGNITION_FC_FAKE_FAULT: 'exit-on-load' },
    network: networkProvider(() => service),
  });
  try {
    await failing.restore({ ...spec('vm_bad'), snapshot });
    assert.unreachable('the load was meant to fail');
  } catch (err) {
    const e = err as IgnitionError;
    assert.is(e.code, 'fc_restore_failed');
    assert.is(e.data.step, 'snapshot-load');
  }
  assert.is(service.leaseOf('vm_bad'), null);
  assert.equal(slotNamespaces(), [service.leaseOf('vm_src')!.netns]);
  assert.not.ok(existsSync(path.join(a.root, 'ws', 'vm_bad')), 'workspace removed');
  assert.equal(await settleProcesses(path.join(a.root, 'ws', 'vm_bad')), []);
  await failing.close();
});

it('a fork that cannot get a slot for every clone is undone: every slot it took is freed', async () => {
  // The source holds one of MAX_SLOTS slots, so one of MAX_SLOTS clones finds none (net_exhausted).
  try {
    await driver.fork(source, { count: MAX_SLOTS, snapshotDir: path.join(a.root, 'fork-snap') });
    assert.unreachable('the fork was meant to fail');
  } catch (err) {
    const e = err as IgnitionError;
    assert.is(e.code, 'fc_restore_failed');
    assert.is(e.data.step, 'network');
    assert.is(e.data.code, 'net_exhausted');
  }
  assert.is(source.state, 'running', 'the source was resumed');
  assert.equal(
    service.list().slots.map((s) => s.vmId),
    ['vm_src'],
  );
  assert.equal(slotNamespaces(), [service.leaseOf('vm_src')!.netns]);
  assert.equal(readdirSync(path.join(a.root, 'ws')).sort(), ['vm_src'], 'no clone workspace left');
});

it('a clone on a bridge TAP must be re-addressed: refused by a non-guest agent, then unwound', async () => {
  rmSync(trace, { force: true });
  const opts = resolveOptions({ ...baseOptions(), network: networkProvider(() => service, { mode: 'bridge' }) });
  const ctx = newContext({ ...spec('vm_br'), snapshot } as BootSpec, opts);
  // Restore's list with the guest-network step after agent-health (restore.ts may list it already).
  const steps = RESTORE_STEPS.some((s) => s.name === guestNetworkStep.name) ? RESTORE_STEPS : [...RESTORE_STEPS, guestNetworkStep];
  let lease: ReturnType<NetworkService['leaseOf']> = null;
  try {
    await runRestore(ctx, steps);
    assert.unreachable('re-addressing was meant to fail');
  } catch (err) {
    const e = err as IgnitionError;
    assert.is(e.data.step, 'guest-network');
    assert.match(e.message, /could not take the address 10\.203\.0\.2\/28 \(501 agent_unsupported\)/);
    lease = service.leaseOf('vm_br');
  } finally {
    await unwind(ctx);
  }
  assert.is(lease?.kind, 'bridge', 'it held a bridge lease until unwound');
  // The VMM ran where the bridge TAP is: the namespace standing in for the host.
  const [load] = loads();
  assert.is(load.netns, nsId(net.host));
  assert.equal(load.body.network_overrides, [{ iface_id: 'eth0', host_dev_name: `${net.prefix}-t0` }]);
  assert.is(service.leaseOf('vm_br'), null);
  assert.not.ok(
    (JSON.parse(sh(net.host, 'ip', '-j', 'link', 'show')) as Array<{ ifname: string }>).some((l) => l.ifname === `${net.prefix}-t0`),
    'bridge TAP removed',
  );
  assert.equal(
    service.list().slots.map((s) => s.vmId),
    ['vm_src'],
  );
  assert.not.ok(existsSync(path.join(a.root, 'ws', 'vm_br')));
  assert.equal(await settleProcesses(path.join(a.root, 'ws', 'vm_br')), []);
});

it('a network spare starts in a slot of its own and a restore with network adopts it with its lease', async () => {
  const pooled = new FirecrackerDriver({
    ...baseOptions(),
    workspacesDir: path.join(a.root, 'ws'),
    spares: 1,
    networkSpares: 1,
    network: networkProvider(() => service),
  });
  try {
    // Until a VM with network asks for a spare, none holds a slot.
    await pooled.spares!.settled();
    assert.is(pooled.spares!.networkSize, 0);
    assert.equal(
      service.list().slots.map((s) => s.vmId),
      ['vm_src'],
    );
    const first = await pooled.restore({ ...spec('vm_n1'), snapshot });
    assert.ok(
      first.timings.some((s) => s.step === 'spawn'),
      'none was ready for the first one',
    );
    await first.destroy();
    await new Promise((r) => setImmediate(r));
    await pooled.spares!.settled();
    assert.is(pooled.spares!.networkSize, 1);
    const held = service.list().slots.find((s) => s.vmId?.startsWith('spare-'));
    assert.ok(held?.netns, 'the network spare holds a slot under its own id');
    const heldNs = nsId(held!.netns!);

    const second = await pooled.restore({ ...spec('vm_n2'), snapshot });
    try {
      const steps = second.timings.map((s) => s.step);
      assert.not.ok(steps.includes('spawn'), `adopted: ${steps}`);
      assert.not.ok(steps.includes('network'), 'the slot came with the spare');
      const lease = service.leaseOf('vm_n2')!;
      assert.is(lease.slot, held!.slot, 'the same slot, now leased to the VM');
      assert.is(service.leaseOf(held!.vmId!), null, 'the spare holds nothing any more');
      assert.is(readlinkSync(`/proc/${second.pid}/ns/net`), heldNs, 'its VMM has run in that slot since it started');
      assert.equal(loads().at(-1)?.body.network_overrides, [{ iface_id: 'eth0', host_dev_name: 'tap0' }]);
    } finally {
      await second.destroy();
    }
    assert.is(service.leaseOf('vm_n2'), null, 'destroy frees the adopted slot');
  } finally {
    await pooled.close();
  }
  // Closing the pool stopped the replacement spares and freed their slots.
  assert.equal(
    service.list().slots.map((s) => s.vmId),
    ['vm_src'],
  );
  assert.equal(slotNamespaces(), [service.leaseOf('vm_src')!.netns]);
});

it('destroying the source frees the last slot', async () => {
  const ns = service.leaseOf('vm_src')!.netns;
  await source.destroy();
  assert.is(service.leaseOf('vm_src'), null);
  assert.equal(slotNamespaces(), []);
  assert.not.ok(existsSync(`/run/netns/${ns}`));
  assert.equal(service.list().slots, []);
});

test.run();
