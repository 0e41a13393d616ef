/** The name servers functions with network get (platform/network/dns.ts): pure, no root, no I/O. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hostResolvers, resolvConfText, resolversIn } from '../../platform/network/dns.ts';
import { resolveNetworkConfig } from '../../platform/network/slot.ts';

const RESOLVED_STUB = '# This is /run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n';
const RESOLVED_UPSTREAM = '# This is /run/systemd/resolve/resolv.conf\nnameserver 192.168.1.1\nnameserver fd00::1\nnameserver 9.9.9.9\nnameserver 1.1.1.1\n';

function files(map: Record<string, string>) {
  return (f: string) => {
    if (!(f in map)) throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
    return map[f];
  };
}

function throwsCode(fn: () => unknown, code: string, text: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.is((err as { code?: string }).code, code);
    assert.match((err as Error).message, text);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('resolversIn keeps the IPv4 servers a slot can reach, in order, once each', () => {
  assert.equal(resolversIn(RESOLVED_STUB), [], 'systemd-resolved’s stub is the host’s loopback');
  assert.equal(resolversIn(RESOLVED_UPSTREAM), ['192.168.1.1', '9.9.9.9', '1.1.1.1'], 'IPv6 left out: slots have IPv4 alone');
  assert.equal(resolversIn('nameserver 10.0.0.2\n  nameserver\t10.0.0.3 # second\n;nameserver 10.0.0.4\nnameserver 10.0.0.2\nnameserver 0.0.0.0\n'), [
    '10.0.0.2',
    '10.0.0.3',
  ]);
  assert.equal(resolversIn('nameserver 300.1.1.1\nnameserver dns.example\n'), []);
});

test('hostResolvers: /etc/resolv.conf first, systemd-resolved’s upstream list when it names only loopback, at most two', () => {
  assert.equal(hostResolvers(undefined, ['/a', '/b'], files({ '/a': 'nameserver 10.1.1.1\n', '/b': 'nameserver 10.2.2.2\n' })), ['10.1.1.1']);
  assert.equal(hostResolvers(undefined, ['/a', '/b'], files({ '/a': RESOLVED_STUB, '/b': RESOLVED_UPSTREAM })), ['192.168.1.1', '9.9.9.9']);
  assert.equal(hostResolvers(undefined, ['/a', '/b'], files({ '/b': RESOLVED_UPSTREAM })), ['192.168.1.1', '9.9.9.9'], 'a missing file is skipped');
  assert.equal(hostResolvers(undefined, ['/a', '/b'], files({ '/a': RESOLVED_STUB })), [], 'none reachable: none');
  // Servers refused (inside Ignition's own networks) are left out before the two are taken.
  const not = (ip: string) => (s: string) => s !== ip;
  assert.equal(hostResolvers(not('192.168.1.1'), ['/b'], files({ '/b': RESOLVED_UPSTREAM })), ['9.9.9.9', '1.1.1.1']);
  assert.equal(hostResolvers(not('10.1.1.1'), ['/a', '/b'], files({ '/a': 'nameserver 10.1.1.1\n', '/b': RESOLVED_UPSTREAM })), ['192.168.1.1', '9.9.9.9']);
});

test('network.dns: one or two IPv4 servers a slot can reach, or net_invalid_config naming the entry', () => {
  const none = () => [];
  assert.equal(resolveNetworkConfig({ dns: ['9.9.9.9', ' 169.254.169.253'] }, none).dns, ['9.9.9.9', '169.254.169.253']);
  throwsCode(() => resolveNetworkConfig({ dns: [] }, none), 'net_invalid_config', /one or two IPv4/);
  throwsCode(() => resolveNetworkConfig({ dns: ['1.1.1.1', '8.8.8.8', '9.9.9.9'] }, none), 'net_invalid_config', /one or two IPv4/);
  throwsCode(() => resolveNetworkConfig({ dns: 'x' as unknown as string[] }, none), 'net_invalid_config', /one or two IPv4/);
  throwsCode(() => resolveNetworkConfig({ dns: ['dns.google'] }, none), 'net_invalid_config', /"dns.google" is not an IPv4 address/);
  throwsCode(() => resolveNetworkConfig({ dns: ['127.0.0.53'] }, none), 'net_invalid_config', /"127.0.0.53" is a loopback/);
  for (const ip of ['0.1.2.3', '224.0.0.251', '255.255.255.255'])
    throwsCode(() => resolveNetworkConfig({ dns: [ip] }, none), 'net_invalid_config', /unspecified, multicast or broadcast/);
  throwsCode(() => resolveNetworkConfig({ dns: ['9.9.9.9', '9.9.9.9 '] }, none), 'net_invalid_config', /names 9\.9\.9\.9 twice/);
  throwsCode(() => resolveNetworkConfig({ dns: ['10.202.0.9'] }, none), 'net_invalid_config', /inside cloneSubnet/);
});

test('without network.dns the host’s servers are the default, less any inside Ignition’s own networks', () => {
  assert.equal(resolveNetworkConfig({}, (usable) => ['10.201.0.1', '192.168.1.1'].filter(usable)).dns, ['192.168.1.1']);
  assert.equal(resolveNetworkConfig({}, () => []).dns, []);
});

test('a sandbox’s resolv.conf lists the servers, or says where to set one', () => {
  assert.is(resolvConfText(['9.9.9.9', '1.1.1.1']), 'nameserver 9.9.9.9\nnameserver 1.1.1.1\n');
  assert.match(resolvConfText([]), /^# no name server .*network\.dns/);
  assert.not.match(resolvConfText([]), /nameserver /);
});

test.run();
