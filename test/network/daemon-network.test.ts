/**
 * A whole daemon with host networking on (`IGNITION_NETWORK=on`, the process driver), run inside
 * a namespace this test creates that plays the host (support.ts), so the real host's network is
 * never touched: the daemon installs its nft table, makes its slots and points its sandboxes'
 * name servers there. Through the CLI, as a user would: a function deployed with `--network`
 * resolves a name through the network's name server and reaches a server on the test's internet
 * from a slot of its own; `net ls` shows the name server and the lease while the instance runs.
 *
 * Root only, with bwrap, ip, nft, nsenter and setpriv. The real host is only read: its links, nft
 * tables and ip_forward are compared before and after.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CLI, ROOT, daemonEnv, daemonOutput } from '../support/daemon.ts';
import { missing } from '../support/needs.ts';
import { skipUnless } from '../support/skip.ts';
import { INET_SERVER, type Listener, type NameServer, type TestNet, createTestNet, destroyTestNet, listen, nameServer, realHostFacts, sh } from './support.ts';

const it = skipUnless(missing('root', 'bwrap', 'ip', 'nft', 'util-linux'));
const RESOLVER = '169.254.169.254';
const NAME = 'api.example.test';

// Resolves the name it is given, connects to it and answers with the line the server wrote back
// (the address the server saw: the host's, after both NATs).
const FUNCTION = `import net from 'node:net';
import dns from 'node:dns';
export default { async fetch(req) {
  const q = new URL(req.url).searchParams;
  const { address } = await dns.promises.lookup(q.get('name'), { family: 4 });
  const line = await new Promise((resolve, reject) => {
    const s = net.connect({ host: address, port: Number(q.get('port')) });
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('end', () => resolve(got.trim()));
    s.on('error', reject);
    s.setTimeout(3000, () => s.destroy(new Error('timeout')));
  });
  return Response.json({ address, line });
} };
`;

let tnet: TestNet;
let before: { facts: ReturnType<typeof realHostFacts>; tables: string };
let dir: string;
const servers: Array<Listener | NameServer> = [];

const hostFacts = () => ({ facts: realHostFacts(tnet.prefix), tables: sh(null, 'nft', 'list', 'tables') });

interface Daemon {
  child: ChildProcess;
  url: string;
  dataDir: string;
}
const daemons: Daemon[] = [];

/** A daemon with host networking on and the process driver, inside the namespace that plays the host. */
async function startDaemon(name: string, network: string): Promise<Daemon> {
  const config = path.join(dir, `${name}.config.ts`);
  writeFileSync(config, `export default { network: ${network} };\n`);
  const dataDir = path.join(dir, name);
  const child = spawn('nsenter', [`--net=/run/netns/${tnet.host}`, process.execPath, CLI, 'daemon', '--config', config], {
    cwd: ROOT,
    env: daemonEnv(dataDir, { IGNITION_DRIVER: 'process', IGNITION_NETWORK: 'on' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const d = { child, url: '', dataDir };
  daemons.push(d);
  d.url = await daemonOutput(child).url;
  return d;
}

/** The CLI, run inside the namespace that plays the host (where the daemons listen). */
function cli(d: Daemon, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'nsenter',
      [`--net=/run/netns/${tnet.host}`, process.execPath, CLI, ...args],
      { cwd: ROOT, env: { ...process.env, IGNITION_HOST: d.url, IGNITION_DATA_DIR: d.dataDir } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The function's source directory. */
function writeFunction(): string {
  const fn = path.join(dir, 'netfn');
  mkdirSync(fn, { recursive: true });
  writeFileSync(path.join(fn, 'index.mjs'), FUNCTION);
  return fn;
}

test.before(async () => {
  if (missing('root', 'bwrap', 'ip', 'nft', 'util-linux')) return;
  tnet = createTestNet();
  before = hostFacts();
  dir = mkdtempSync(path.join(os.tmpdir(), 'ign-dnet-'));
  // Sandboxes' uids pass through to their workspaces under the data directory (SECURITY.md).
  chmodSync(dir, 0o711);
  try {
    sh(null, 'ip', '-n', tnet.inet, 'addr', 'add', `${RESOLVER}/32`, 'dev', 'lo');
    servers.push(await nameServer(tnet.inet, RESOLVER, NAME, INET_SERVER));
  } catch (err) {
    // A failed set-up must not leave the name server's process holding the test open.
    for (const s of servers) s.close();
    destroyTestNet(tnet);
    throw err;
  }
});

test.after(async () => {
  if (!tnet) return;
  try {
    for (const d of daemons) {
      if (d.child.exitCode !== null || d.child.signalCode !== null) continue;
      const exited = new Promise((r) => d.child.once('exit', r));
      d.child.kill('SIGTERM');
      await exited;
    }
    for (const s of servers) s.close();
  } finally {
    destroyTestNet(tnet);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(hostFacts(), before, 'the real host’s links, nft tables and ip_forward are unchanged');
});

it('a function deployed with --network resolves a name and reaches the internet from a slot of its own', async () => {
  const d = await startDaemon('on', `{ prefix: '${tnet.prefix}', maxSlots: 2, poolSize: 0, dns: ['${RESOLVER}'] }`);
  const inet = await listen(tnet.inet, INET_SERVER);
  servers.push(inet);
  const deployed = await cli(d, ['deploy', writeFunction(), '--name', 'netfn', '--network']);
  assert.is(deployed.code, 0, deployed.stderr);
  const res = await cli(d, ['invoke', 'netfn', '--path', `/?name=${NAME}&port=${inet.port}`]);
  assert.is(res.code, 0, res.stderr);
  assert.equal(
    JSON.parse(res.stdout),
    { address: INET_SERVER, line: '198.51.100.1' },
    'resolved through the network’s name server, out through the host’s NAT',
  );
  const net = await cli(d, ['net', 'ls']);
  assert.is(net.code, 0, net.stderr);
  assert.match(net.stdout, `name servers: ${RESOLVER}`);
  assert.match(net.stdout, /leased/, 'the instance holds a slot');
  const listing = JSON.parse((await cli(d, ['net', 'ls', '--json'])).stdout) as { slots: Array<{ state: string; netns: string }> };
  assert.ok(
    listing.slots.some((s) => s.state === 'leased' && s.netns.startsWith(`${tnet.prefix}-`)),
    'in a namespace of the daemon’s making',
  );
});

it('host networking turned on but unable to open: a function with network is refused, not run on the host’s network', async () => {
  // An invalid network block: the service does not open, and says why.
  const d = await startDaemon('broken', `{ prefix: '${tnet.prefix}', dns: ['127.0.0.1'] }`);
  const net = await cli(d, ['net', 'ls']);
  assert.match(net.stdout, /Host networking is off: .*network\.dns entry "127\.0\.0\.1" is a loopback/);
  const deployed = await cli(d, ['deploy', writeFunction(), '--name', 'refused', '--network']);
  assert.is.not(deployed.code, 0);
  assert.match(deployed.stderr, /host networking is on in the configuration but not available \(network\.dns entry "127\.0\.0\.1" is a loopback/);
  assert.match(deployed.stderr, /it would share the host's network namespace, so it does not start/);
  // A function without network is not affected.
  const plain = await cli(d, ['deploy', writeFunction(), '--name', 'plain']);
  assert.is(plain.code, 0, plain.stderr);
});

test.run();
