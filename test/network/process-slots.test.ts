/**
 * A process-driver sandbox with network, where the daemon has host networking: it runs in a
 * network slot of its own (platform/network), as a microVM would, not in the host's namespace.
 * Real bubblewrap sandboxes and real slots, inside namespaces this test creates (support.ts: one
 * namespace plays the host, another the internet). From inside, the function reaches a server on
 * the internet; it does not reach a server of the host's (dropped by the host table's input
 * chain), nor the instance metadata address (rejected: link-local), nor one on the loopback device
 * of the namespace the driver runs in. Its agent runs as
 * the sandbox's unprivileged uid in the slot's namespace, and destroying the machine gives the
 * slot back. And the daemon's wiring (select.ts): the driver asks for a slot exactly while host
 * networking is open.
 *
 * Root only. The real host is only read: its nft tables, links and ip_forward are compared before
 * and after.
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import { networkProvider } from '../../platform/network/attach.ts';
import { NetworkService } from '../../platform/network/service.ts';
import { slotLayout } from '../../platform/network/slot.ts';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import type { Machine } from '../../platform/vmm/port.ts';
import { selectDriver } from '../../platform/vmm/select.ts';
import { defaults } from '../../platform/config/schema.ts';
import { silentLogger } from '../../platform/log.ts';
import { deepChildPids } from '../../platform/vmm/process/procfs.ts';
import { agentCall } from '../firecracker/support.ts';
import { ROOT } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';
import { missing } from '../support/needs.ts';
import { skipUnless } from '../support/skip.ts';
import {
  HOST_UPLINK,
  INET_SERVER,
  type Listener,
  type NameServer,
  type TestNet,
  createTestNet,
  destroyTestNet,
  listen,
  connect,
  nameServer,
  realHostFacts,
  sh,
} from './support.ts';

const it = skipUnless(missing('root', 'bwrap', 'ip', 'nft'));
const METADATA = '169.254.169.254';
/** Alibaba Cloud's instance metadata address: not link-local. */
const ALIBABA_METADATA = '100.100.100.200';
/** Where the host's port forward listens (a DNAT of the host's, as Docker's -p makes). */
const FORWARDED_PORT = 8080;
/** Where the function listens, inside its sandbox. */
const INSIDE_PORT = 7070;

// The function tries the servers the test names in its query (each attempt ends within 2 s),
// resolves the name it names, and says what its /etc/resolv.conf holds.
const PROBE = `import net from 'node:net';
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
// A server of the function's own, on every address of its namespace.
net.createServer((c) => c.end('inside\\n')).listen(${INSIDE_PORT});
const attempt = (host, port) => new Promise((resolve) => {
  const s = net.connect({ host, port }, () => { s.destroy(); resolve('connected'); });
  s.on('error', (e) => resolve(e.code));
  s.setTimeout(2000, () => { s.destroy(); resolve('timeout'); });
});
export default { async fetch(req) {
  const q = new URL(req.url).searchParams;
  const out = {};
  for (const [k, v] of q) {
    if (k === 'name') continue;
    const [host, port] = v.split(':');
    out[k] = await attempt(host, Number(port));
  }
  out.lookup = await dns.promises.lookup(q.get('name'), { family: 4 }).then((a) => a.address, (e) => e.code);
  out.resolv = readFileSync('/etc/resolv.conf', 'utf8');
  return Response.json(out);
} };
`;

let tnet: TestNet;
let db: Database.Database;
let service: NetworkService;
let before: { facts: ReturnType<typeof realHostFacts>; tables: string };
/** The servers a probe tries: on the test's internet, on the host, at the metadata address, on the daemon's loopback. */
let servers: { inet: Listener; host: Listener; metadata: Listener; alibaba: Listener; names: NameServer; local: net.Server; query: string };

const hostFacts = () => ({ facts: realHostFacts(tnet.prefix), tables: sh(null, 'nft', 'list', 'tables') });
const nsId = (name: string) => `net:[${statSync(`/run/netns/${name}`).ino}]`;

test.before(async () => {
  if (missing('root', 'bwrap', 'ip', 'nft')) return;
  tnet = createTestNet();
  before = hostFacts();
  try {
    await startServers();
  } catch (err) {
    // A failed set-up must not leave the servers' processes holding the test open.
    await cleanUp();
    throw err;
  }
});

/** What a probe tries, each server closed by cleanUp: `started` holds them as they come. */
const started: Array<{ close(): void }> = [];

async function startServers(): Promise<void> {
  db = new Database(':memory:');
  // The name server at the metadata address, as a cloud's can be (GCP's is).
  service = await openService({ egress: true });
  const up = <T extends { close(): void }>(s: T) => (started.push(s), s);
  const inet = up(await listen(tnet.inet, INET_SERVER));
  const host = up(await listen(tnet.host, HOST_UPLINK));
  // A cloud's instance metadata service, out on the test's internet, with a name server beside it.
  sh(null, 'ip', '-n', tnet.inet, 'addr', 'add', `${METADATA}/32`, 'dev', 'lo');
  const metadata = up(await listen(tnet.inet, METADATA));
  const names = up(await nameServer(tnet.inet, METADATA, 'api.example.test', INET_SERVER));
  // A server on the loopback device of the namespace the driver (the daemon) runs in.
  const local = up(net.createServer((c) => c.end()).listen(0, '127.0.0.1'));
  await new Promise((r) => local.once('listening', r));
  const localPort = (local.address() as net.AddressInfo).port;
  // Another cloud's metadata service, at an address that is not link-local.
  sh(null, 'ip', '-n', tnet.inet, 'addr', 'add', `${ALIBABA_METADATA}/32`, 'dev', 'lo');
  const alibaba = up(await listen(tnet.inet, ALIBABA_METADATA));
  // A port forward of the host's, as Docker's -p makes: its own addresses, port 8080, to the
  // internet's server.
  const forward = [
    'table ip portfwd {',
    '  chain pre {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    fib daddr type local tcp dport ${FORWARDED_PORT} dnat to ${INET_SERVER}:${inet.port}`,
    '  }',
    '}',
  ];
  execFileSync('nsenter', [`--net=/run/netns/${tnet.host}`, 'nft', '-f', '-'], { input: forward.join('\n') + '\n' });
  // A network beyond the host that routes the slots' addresses to it.
  sh(null, 'ip', '-n', tnet.inet, 'route', 'add', '10.201.0.0/16', 'via', HOST_UPLINK);
  const query = [
    `inet=${INET_SERVER}:${inet.port}`,
    `host=${HOST_UPLINK}:${host.port}`,
    `forwarded=${HOST_UPLINK}:${FORWARDED_PORT}`,
    `loopback=127.0.0.1:${localPort}`,
    `metadata=${METADATA}:${metadata.port}`,
    `alibaba=${ALIBABA_METADATA}:${alibaba.port}`,
    'name=api.example.test',
  ].join('&');
  servers = { inet, host, metadata, alibaba, names, local, query };
}

async function cleanUp(): Promise<void> {
  for (const s of started) s.close();
  try {
    await service?.close({ purge: true });
    db?.close();
  } finally {
    destroyTestNet(tnet);
  }
}

/** The service with the name server at the metadata address, as a cloud's can be (GCP's is). */
function openService(opts: { egress: boolean }): Promise<NetworkService> {
  return NetworkService.open({ db, config: { prefix: tnet.prefix, maxSlots: 2, dns: [METADATA], egress: opts.egress }, poolSize: 0, hostNetns: tnet.host });
}

/** Boots the probe in a sandbox with network (a slot from `service`), asks it, and destroys it. */
async function probe(id: string, check: (got: Record<string, string>, m: Machine) => void | Promise<void>): Promise<void> {
  const dir = tempDir('pslot-');
  const bundle = path.join(dir, 'probe.mjs');
  writeFileSync(bundle, PROBE);
  const provider = networkProvider(() => service);
  const driver = new ProcessDriver({
    agentPath: path.join(ROOT, 'dist', 'agent.mjs'),
    sandbox: 'bubblewrap',
    network: { available: () => true, attach: (vm) => provider.attach(vm) },
  });
  try {
    assert.is(driver.isolation.layers.ownNetworkNamespace, true, 'the isolation report says so');
    const m = await driver.boot({ id, workspace: path.join(dir, id), memoryMiB: 128, vcpus: 1, bundle, env: {}, network: true, labels: {} });
    const res = await agentCall(m, 'GET', `/v1/invoke/?${servers.query}`);
    assert.is(res.status, 200, res.text);
    await check(JSON.parse(res.text) as Record<string, string>, m);
    await m.destroy();
    assert.is(service.leaseOf(id), null, 'destroying the machine released its slot');
  } finally {
    await driver.close();
  }
}

test.after(async () => {
  if (!tnet) return;
  await cleanUp();
  assert.equal(hostFacts(), before, 'the real host’s links, nft tables and ip_forward are unchanged');
});

it('a sandbox with network runs in a slot: the internet yes, the host and the daemon’s loopback no', async () => {
  const { host, metadata, alibaba, names } = servers;
  await probe('vm_slot', async (got, m) => {
    const lease = service.leaseOf('vm_slot');
    assert.ok(lease?.netns, 'the machine holds a slot');
    const agents = deepChildPids(m.pid!).filter((p) => readlinkSync(`/proc/${p}/exe`) === process.execPath);
    assert.is(agents.length, 1, 'one agent');
    assert.is(readlinkSync(`/proc/${agents[0]}/ns/net`), nsId(lease!.netns!), 'the agent runs in the slot’s namespace');
    assert.is(sh(lease!.netns!, 'cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6').trim(), '1', 'which has no IPv6');
    assert.is(sh(lease!.netns!, 'ip', '-6', 'address', 'show').trim(), '', 'not even a link-local address');
    assert.is.not(statSync(`/proc/${agents[0]}`).uid, 0, 'as the sandbox’s uid, not root');
    assert.is(got.inet, 'connected', 'the internet is reachable (NAT through the host)');
    assert.is.not(got.host, 'connected', 'the host’s own addresses are not');
    assert.is.not(got.loopback, 'connected', 'nor the loopback services of the daemon’s namespace');
    assert.is(got.metadata, 'EHOSTUNREACH', 'nor a link-local address (instance metadata): refused at once');
    assert.is(got.alibaba, 'EHOSTUNREACH', 'nor another cloud’s metadata address');
    assert.is.not(got.forwarded, 'connected', 'nor a port forward of the host’s (judged before its DNAT)');
    assert.is(host.from.length + metadata.from.length + alibaba.from.length, 0, 'neither the host’s server nor a metadata server saw a connection');
    assert.is(servers.inet.from.length, 1, 'the internet’s server saw the one direct connection, none through the forward');
    // And from beyond the host, nothing reaches the function's own server.
    const inside = await connect(tnet.inet, slotLayout(service.config, lease!.slot).slotVethIp, INSIDE_PORT, 2000);
    assert.not.ok(inside.ok, `a connection into the sandbox from outside is not let in (${JSON.stringify(inside)})`);
    assert.equal(service.list().dns, [METADATA], 'GET /v1/network lists the name servers in use');
    assert.is(got.resolv, `nameserver ${METADATA}\n`, 'the sandbox reads the network’s name servers, not the host’s resolv.conf');
    assert.is(got.lookup, INET_SERVER, 'and resolves names through them: port 53 passes where the rest of link-local is refused');
    assert.ok(
      names.queries.some((q) => q.query === 'api.example.test'),
      'the query reached the name server',
    );
  });
});

it('egress off holds for a sandbox, which sends from inside the slot itself: no internet, no name queries', async () => {
  await service.close({ purge: true });
  service = await openService({ egress: false });
  const seen = { inet: servers.inet.from.length, queries: servers.names.queries.length };
  await probe('vm_noegress', (got) => {
    assert.is(got.inet, 'EHOSTUNREACH', 'a connection out is refused at once');
    assert.is.not(got.lookup, INET_SERVER, 'and so is a name query');
    assert.is(servers.inet.from.length, seen.inet, 'the internet’s server saw no connection');
    assert.is(servers.names.queries.length, seen.queries, 'the name server no query');
  });
});

it('without host networking the isolation report says a sandbox with network shares the host’s namespace', async () => {
  // Booting one that way is test/unit/process-sandbox-network.test.ts's.
  const driver = new ProcessDriver({
    agentPath: path.join(ROOT, 'dist', 'agent.mjs'),
    sandbox: 'bubblewrap',
    network: { available: () => false, attach: () => Promise.reject(new Error('never called')) },
  });
  try {
    assert.is(driver.isolation.layers.ownNetworkNamespace, false);
    assert.ok(
      driver.isolation.missing.some((m) => /network namespace of its own/.test(m.what) && /IGNITION_NETWORK=on/.test(m.fix)),
      'with the fix',
    );
  } finally {
    await driver.close();
  }
});

it('the daemon’s wiring: the process driver uses host networking exactly while it is on', async () => {
  const dir = tempDir('pslot-select-');
  let on = false;
  const attached: string[] = [];
  const { driver } = selectDriver(
    { ...defaults, driver: 'process', processSpares: 0 },
    {
      agentPath: path.join(ROOT, 'dist', 'agent.mjs'),
      workspacesDir: dir,
      logger: silentLogger,
      network: { attach: (id) => (attached.push(id), Promise.reject(new Error('not in this test'))) },
      networkOn: () => on,
    },
  );
  try {
    assert.is(driver.isolation?.layers.ownNetworkNamespace, false, 'host networking not open (yet)');
    on = true;
    assert.is(driver.isolation?.layers.ownNetworkNamespace, true, 'open: functions with network get a slot');
    const failed = await driver
      .boot({ id: 'vm_wired', workspace: path.join(dir, 'vm_wired'), memoryMiB: 128, vcpus: 1, env: {}, network: true, labels: {} })
      .then(
        () => 'booted',
        (err: Error) => err.message,
      );
    assert.is(failed, 'not in this test', 'a start with network asked the provider for a slot, and its failure is the start’s');
    assert.equal(attached, ['vm_wired']);
  } finally {
    await driver.close();
  }
});

test.run();
