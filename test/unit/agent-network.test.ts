/**
 * The agent's side of `POST /v1/network` (agent/network.ts): request validation, the `ip -batch`
 * script for a slot clone (flush neighbours) and a bridge clone (re-address), that script run by
 * the real iproute2 against an `eth0` inside a namespace this test creates (root only; the host's
 * own network is never touched), and the real agent outside a microVM answering 400 and 501.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { networkBatch, parseNetworkRequest, resolvConfOf } from '../../agent/network.ts';
import type { NetworkRequest } from '../../agent/protocol.ts';
import { agentRequest } from '../../platform/vmm/firecracker/agent.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { ROOT } from '../support/daemon.ts';

const AGENT = path.join(ROOT, 'dist', 'agent.mjs');
const readHostResolv = () => (existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : null);
const rootSkip = needs('root', 'ip');
const agentSkip = existsSync(AGENT) ? null : 'needs dist/agent.mjs: run npm run build';
reportSkip('test/unit/agent-network.test.ts', rootSkip ?? agentSkip);

test('requests are validated field by field', () => {
  assert.equal(parseNetworkRequest({ iface: 'eth0' }), { iface: 'eth0' });
  assert.equal(parseNetworkRequest({ iface: 'eth0', address: '10.203.0.5/24', gateway: '10.203.0.1', mac: '06:00:0A:CB:00:05', mtu: 1400 }), {
    iface: 'eth0',
    address: '10.203.0.5/24',
    gateway: '10.203.0.1',
    mac: '06:00:0a:cb:00:05',
    mtu: 1400,
  });
  const bad: Array<[unknown, RegExp]> = [
    [null, /JSON object/],
    [[], /JSON object/],
    [{}, /"iface"/],
    [{ iface: 'eth0; reboot' }, /"iface"/],
    [{ iface: 'a-very-long-interface' }, /"iface"/],
    [{ iface: 'eth0', address: '10.203.0.5' }, /"address"/],
    [{ iface: 'eth0', address: '10.203.0.256/24' }, /"address"/],
    [{ iface: 'eth0', address: '10.203.0.5/33' }, /"address"/],
    [{ iface: 'eth0', address: '10.203.0.5/24/1' }, /"address"/],
    [{ iface: 'eth0', address: '010.203.0.5/24' }, /"address"/],
    [{ iface: 'eth0', address: '10.203.0.5/24', gateway: 'router' }, /"gateway"/],
    [{ iface: 'eth0', gateway: '10.203.0.1' }, /"gateway" needs "address"/],
    [{ iface: 'eth0', address: '10.203.0.5/24', mac: '07:00:00:00:00:01' }, /unicast/],
    [{ iface: 'eth0', mac: '06:00:00:00:00:01' }, /"mac" needs "address"/],
    [{ iface: 'eth0', mtu: 67 }, /"mtu"/],
    [{ iface: 'eth0', mtu: 1500.5 }, /"mtu"/],
    [{ iface: 'eth0', dns: '9.9.9.9' }, /"dns"/],
    [{ iface: 'eth0', dns: [] }, /"dns"/],
    [{ iface: 'eth0', dns: ['9.9.9.9', '1.1.1.1', '8.8.8.8'] }, /"dns"/],
    [{ iface: 'eth0', dns: ['9.9.9.9\nnameserver 6.6.6.6'] }, /"dns"/],
  ];
  for (const [body, why] of bad) {
    const r = parseNetworkRequest(body);
    assert.type(r, 'string', JSON.stringify(body));
    assert.match(r as string, why);
  }
});

test('name servers: the request may name them, and the guest’s resolv.conf then lists them', () => {
  const req = parseNetworkRequest({ iface: 'eth0', mtu: 1500, dns: ['10.0.0.53', '9.9.9.9'] });
  assert.equal(req, { iface: 'eth0', mtu: 1500, dns: ['10.0.0.53', '9.9.9.9'] });
  assert.is(resolvConfOf(req as NetworkRequest), 'nameserver 10.0.0.53\nnameserver 9.9.9.9\n');
  assert.is(resolvConfOf({ iface: 'eth0' }), null, 'none named: the snapshot’s file stays');
  assert.equal(networkBatch(req as NetworkRequest), ['link set dev eth0 mtu 1500', 'neighbour flush dev eth0'], 'and the ip script is unchanged');
});

test('the scripts: a slot clone flushes its neighbours; a bridge clone is re-addressed first', () => {
  assert.equal(networkBatch({ iface: 'eth0' }), ['neighbour flush dev eth0']);
  assert.equal(networkBatch({ iface: 'eth0', mtu: 1500 }), ['link set dev eth0 mtu 1500', 'neighbour flush dev eth0']);
  assert.equal(networkBatch({ iface: 'eth0', address: '10.203.0.5/24', gateway: '10.203.0.1', mac: '06:00:0a:cb:00:05', mtu: 1400 }), [
    'address flush dev eth0',
    'link set dev eth0 address 06:00:0a:cb:00:05',
    'link set dev eth0 mtu 1400',
    'address add 10.203.0.5/24 dev eth0',
    'link set dev eth0 up',
    'route replace default via 10.203.0.1 dev eth0',
    'neighbour flush dev eth0',
  ]);
});

/** A namespace with a veth `eth0` as a guest would have it after waking from the golden snapshot. */
function wokenGuest(): { ns: string; ip: (...a: string[]) => string; batch: (lines: string[]) => void; drop: () => void } {
  const ns = `tag${randomBytes(3).toString('hex')}`;
  const ip = (...a: string[]) => execFileSync('ip', ['-n', ns, ...a], { encoding: 'utf8' });
  execFileSync('ip', ['netns', 'add', ns]);
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'gw0');
  ip('link', 'set', 'gw0', 'up');
  ip('address', 'add', '172.16.0.2/30', 'dev', 'eth0');
  ip('link', 'set', 'eth0', 'up');
  ip('route', 'add', 'default', 'via', '172.16.0.1');
  // The gateway as the snapshot remembers it: the MAC of another slot's TAP.
  ip('neighbour', 'replace', '172.16.0.1', 'lladdr', '02:aa:bb:cc:dd:ee', 'dev', 'eth0', 'nud', 'reachable');
  return {
    ns,
    ip,
    batch: (lines) => void execFileSync('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' }),
    drop: () => execFileSync('ip', ['netns', 'del', ns]),
  };
}

(rootSkip ? test.skip : test)('iproute2 runs the scripts as meant (in a namespace of this test)', () => {
  const g = wokenGuest();
  try {
    assert.match(g.ip('neighbour', 'show', 'dev', 'eth0'), /172\.16\.0\.1 lladdr 02:aa:bb:cc:dd:ee/);
    g.batch(networkBatch({ iface: 'eth0', mtu: 1500 }));
    assert.is(g.ip('neighbour', 'show', 'dev', 'eth0').trim(), '', 'stale gateway MAC forgotten');
    assert.match(g.ip('-br', 'address', 'show', 'dev', 'eth0'), /172\.16\.0\.2\/30/, 'address kept');
    assert.match(g.ip('route'), /default via 172\.16\.0\.1 dev eth0/, 'route kept');

    g.ip('neighbour', 'replace', '172.16.0.1', 'lladdr', '02:aa:bb:cc:dd:ee', 'dev', 'eth0', 'nud', 'reachable');
    g.batch(networkBatch({ iface: 'eth0', address: '10.203.0.5/24', gateway: '10.203.0.1', mac: '06:00:0a:cb:00:05', mtu: 1400 }));
    const link = JSON.parse(g.ip('-j', 'address', 'show', 'dev', 'eth0'))[0];
    assert.is(link.address, '06:00:0a:cb:00:05');
    assert.is(link.mtu, 1400);
    assert.equal(
      link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`),
      ['10.203.0.5/24'],
      'the snapshot’s address is gone',
    );
    assert.match(g.ip('route'), /default via 10\.203\.0\.1 dev eth0/);
    assert.is(g.ip('neighbour', 'show', 'dev', 'eth0').trim(), '');
  } finally {
    g.drop();
  }
});

(agentSkip ? test.skip : test)('the real agent outside a microVM: 400 for a bad body, 501 for a valid one', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-agnet-'));
  const sock = path.join(dir, 'agent.sock');
  const agent = spawn(process.execPath, [AGENT, '--uds', sock], {
    env: { ...process.env, IGNITION_WORK_DIR: path.join(dir, 'fn') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      agent.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('ignition-agent ready')) resolve();
      });
      agent.once('exit', (code) => reject(new Error(`agent exited ${code}`)));
    });
    const bad = await agentRequest<{ code: string; detail: string }>(sock, 'POST', '/v1/network', { iface: 'eth0', address: 'nowhere' }, 5000);
    assert.is(bad.status, 400);
    assert.is(bad.body.code, 'agent_bad_request');
    assert.match(bad.body.detail, /"address"/);
    // Name servers included: a host process never writes the host's resolv.conf.
    const resolvBefore = readHostResolv();
    const flush = await agentRequest<{ code: string }>(sock, 'POST', '/v1/network', { iface: 'eth0', mtu: 1500, dns: ['192.0.2.53'] }, 5000);
    assert.is(flush.status, 501);
    assert.is(flush.body.code, 'agent_unsupported');
    assert.is(readHostResolv(), resolvBefore, 'the host’s /etc/resolv.conf is untouched');
  } finally {
    agent.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
