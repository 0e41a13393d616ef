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
import { CLI, ROOT, daemonOutput } from '../support/daemon.ts';
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
let daemon: ChildProcess | undefined;
let url: string;
const servers: Array<Listener | NameServer> = [];

const hostFacts = () => ({ facts: realHostFacts(tnet.prefix), tables: sh(null, 'nft', 'list', 'tables') });

/** The CLI, run inside the namespace that plays the host (where the daemon listens). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'nsenter',
      [`--net=/run/netns/${tnet.host}`, process.execPath, CLI, ...args],
      { cwd: ROOT, env: { ...process.env, IGNITION_HOST: url, IGNITION_DATA_DIR: path.join(dir, 'data') } },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test.before(async () => {
  if (missing('root', 'bwrap', 'ip', 'nft', 'util-linux')) return;
  tnet = createTestNet();
  before = hostFacts();
  dir = mkdtempSync(path.join(os.tmpdir(), 'ign-dnet-'));
  // Sandboxes' uids pass through to their workspaces under the data directory (SECURITY.md).
  chmodSync(dir, 0o711);
  sh(null, 'ip', '-n', tnet.inet, 'addr', 'add', `${RESOLVER}/32`, 'dev', 'lo');
  servers.push(await nameServer(tnet.inet, RESOLVER, NAME, INET_SERVER));
  const config = path.join(dir, 'ignition.config.ts');
  writeFileSync(config, `export default { network: { prefix: '${tnet.prefix}', maxSlots: 2, poolSize: 0, dns: ['${RESOLVER}'] } };\n`);
  daemon = spawn('nsenter', [`--net=/run/netns/${tnet.host}`, process.execPath, CLI, 'daemon', '--config', config], {
    cwd: ROOT,
    env: {
      ...process.env,
      IGNITION_DATA_DIR: path.join(dir, 'data'),
      IGNITION_LISTEN: '127.0.0.1:0',
      IGNITION_LOG_LEVEL: 'warn',
      IGNITION_DRIVER: 'process',
      IGNITION_NETWORK: 'on',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  url = await daemonOutput(daemon).url;
});

test.after(async () => {
  if (!tnet) return;
  try {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
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
  const inet = await listen(tnet.inet, INET_SERVER);
  servers.push(inet);
  const fn = path.join(dir, 'netfn');
  mkdirSync(fn);
  writeFileSync(path.join(fn, 'index.mjs'), FUNCTION);
  const deployed = await cli(['deploy', fn, '--name', 'netfn', '--network']);
  assert.is(deployed.code, 0, deployed.stderr);
  const res = await cli(['invoke', 'netfn', '--path', `/?name=${NAME}&port=${inet.port}`]);
  assert.is(res.code, 0, res.stderr);
  assert.equal(
    JSON.parse(res.stdout),
    { address: INET_SERVER, line: '198.51.100.1' },
    'resolved through the network’s name server, out through the host’s NAT',
  );
  const net = await cli(['net', 'ls']);
  assert.is(net.code, 0, net.stderr);
  assert.match(net.stdout, `name servers: ${RESOLVER}`);
  assert.match(net.stdout, /leased/, 'the instance holds a slot');
  const listing = JSON.parse((await cli(['net', 'ls', '--json'])).stdout) as { slots: Array<{ state: string; netns: string }> };
  assert.ok(
    listing.slots.some((s) => s.state === 'leased' && s.netns.startsWith(`${tnet.prefix}-`)),
    'in a namespace of the daemon’s making',
  );
});

test.run();
