/** Pure slot arithmetic and configuration validation: no root, no I/O. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NetInvalidConfig, NetInvalidPolicy, NetSubnetOverlap, NetSubnetTooSmall } from '../../platform/network/errors.ts';
import { parseCidr, parseIp, formatIp, overlaps } from '../../platform/network/ipv4.ts';
import { bridgeLayout, resolveNetworkConfig, resolvePolicy, slotLayout, slotOfBridgeTap, slotOfHostVeth, slotOfNetns } from '../../platform/network/slot.ts';

function throwsCode(fn: () => unknown, code: string, text?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.is((err as { code?: string }).code, code);
    if (text) assert.match((err as Error).message, text);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

test('ipv4 parse/format round-trips and rejects junk', () => {
  assert.is(formatIp(parseIp('10.201.3.254')!), '10.201.3.254');
  assert.is(parseIp('256.1.1.1'), null);
  assert.is(parseIp('1.2.3'), null);
  assert.is(parseIp('01.2.3.4'), null);
  assert.is(parseCidr('10.0.0.0/8', 'x').size, 2 ** 24);
  assert.ok(overlaps(parseCidr('10.0.0.0/8', 'a'), parseCidr('10.5.0.0/16', 'b')));
  assert.not.ok(overlaps(parseCidr('10.0.0.0/16', 'a'), parseCidr('10.1.0.0/16', 'b')));
});

test('defaults: slot 0 and slot 5 derive every name and address', () => {
  const cfg = resolveNetworkConfig();
  assert.is(cfg.capacity, 16384); // 10.201.0.0/16 in /30 pairs
  const s0 = slotLayout(cfg, 0);
  assert.equal(s0, {
    slot: 0,
    netns: 'ign-0',
    hostVeth: 'ign-v0',
    slotVeth: 'veth0',
    tap: 'tap0',
    hostVethIp: '10.201.0.1',
    slotVethIp: '10.201.0.2',
    pairPrefix: 30,
    cloneAddress: '10.202.0.1',
    gatewayIp: '172.16.0.1',
    guestIp: '172.16.0.2',
    guestPrefix: 30,
    guestMac: '06:00:ac:10:00:02',
  });
  const s5 = slotLayout(cfg, 5);
  assert.is(s5.hostVethIp, '10.201.0.21');
  assert.is(s5.slotVethIp, '10.201.0.22');
  assert.is(s5.cloneAddress, '10.202.0.6');
  // Same inside every slot: that is what lets clones of one snapshot share a guest IP.
  assert.is(s5.tap, s0.tap);
  assert.is(s5.guestIp, s0.guestIp);
  assert.is(s5.gatewayIp, s0.gatewayIp);
  const last = slotLayout(cfg, cfg.capacity - 1);
  assert.is(last.hostVethIp, '10.201.255.253');
  assert.ok(last.hostVeth.length < 16);
});

test('/31 pairs halve the host subnet use', () => {
  const cfg = resolveNetworkConfig({ pairPrefix: 31, hostSubnet: '10.9.0.0/24', cloneSubnet: '10.8.0.0/24' });
  assert.is(cfg.capacity, 128);
  const s3 = slotLayout(cfg, 3);
  assert.is(s3.hostVethIp, '10.9.0.6');
  assert.is(s3.slotVethIp, '10.9.0.7');
  assert.is(s3.cloneAddress, '10.8.0.4');
});

test('capacity is the smaller of pairs and clone addresses, or maxSlots', () => {
  assert.is(resolveNetworkConfig({ hostSubnet: '10.9.0.0/16', cloneSubnet: '10.8.0.0/24' }).capacity, 254);
  assert.is(resolveNetworkConfig({ maxSlots: 10 }).capacity, 10);
  throwsCode(() => slotLayout(resolveNetworkConfig({ maxSlots: 10 }), 10), 'net_invalid_config', /outside 0–9/);
});

test('every slot has distinct host addresses, clone addresses and names', () => {
  const cfg = resolveNetworkConfig({ hostSubnet: '10.9.0.0/22', cloneSubnet: '10.8.0.0/24', pairPrefix: 31 });
  const seen = new Set<string>();
  for (let n = 0; n < cfg.capacity; n++) {
    const s = slotLayout(cfg, n);
    for (const v of [s.netns, s.hostVeth, s.hostVethIp, s.slotVethIp, s.cloneAddress]) {
      assert.not.ok(seen.has(v), `${v} repeats at slot ${n}`);
      seen.add(v);
    }
  }
});

test('bridge slots get unique IPs and MACs derived from them', () => {
  const cfg = resolveNetworkConfig({ bridgeSubnet: '10.203.0.0/29' });
  assert.is(cfg.bridgeCapacity, 5);
  const b = bridgeLayout(cfg, 0);
  assert.equal(b, {
    slot: 0,
    bridge: 'ign-br0',
    tap: 'ign-t0',
    gatewayIp: '10.203.0.1',
    guestIp: '10.203.0.2',
    guestPrefix: 29,
    guestMac: '06:00:0a:cb:00:02',
  });
  assert.is(bridgeLayout(cfg, 4).guestIp, '10.203.0.6');
  throwsCode(() => bridgeLayout(resolveNetworkConfig({ bridgeSubnet: null }), 0), 'net_invalid_config', /disabled/);
});

test('name parsers recognise only our canonical names', () => {
  const cfg = resolveNetworkConfig({ prefix: 'igt' });
  assert.is(slotOfNetns(cfg, 'igt-12'), 12);
  assert.is(slotOfNetns(cfg, 'igt-012'), null);
  assert.is(slotOfNetns(cfg, 'igt-host'), null);
  assert.is(slotOfNetns(cfg, 'ign-12'), null);
  assert.is(slotOfHostVeth(cfg, 'igt-v7'), 7);
  assert.is(slotOfHostVeth(cfg, 'igt-7'), null);
  assert.is(slotOfBridgeTap(cfg, 'igt-t3'), 3);
  for (let n = 0; n < 50; n++) assert.is(slotOfNetns(cfg, slotLayout(cfg, n).netns), n);
});

test('configuration errors are typed and name the setting', () => {
  throwsCode(() => resolveNetworkConfig({ hostSubnet: '10.201.0.0' }), NetInvalidConfig.code, /hostSubnet/);
  throwsCode(() => resolveNetworkConfig({ hostSubnet: '10.201.0.1/16' }), NetInvalidConfig.code, /did you mean 10\.201\.0\.0\/16/);
  throwsCode(() => resolveNetworkConfig({ cloneSubnet: '300.0.0.0/8' }), NetInvalidConfig.code);
  throwsCode(() => resolveNetworkConfig({ cloneSubnet: '10.201.128.0/17' }), NetSubnetOverlap.code, /hostSubnet 10\.201\.0\.0\/16 overlaps cloneSubnet/);
  throwsCode(() => resolveNetworkConfig({ bridgeSubnet: '172.16.0.0/24' }), NetSubnetOverlap.code, /guestSubnet/);
  throwsCode(() => resolveNetworkConfig({ guestSubnet: '172.16.0.0/31' }), NetSubnetTooSmall.code);
  throwsCode(() => resolveNetworkConfig({ hostSubnet: '10.9.0.0/31' }), NetSubnetTooSmall.code);
  throwsCode(() => resolveNetworkConfig({ bridgeSubnet: '10.203.0.0/31' }), NetSubnetTooSmall.code);
  throwsCode(() => resolveNetworkConfig({ cloneSubnet: '10.8.0.0/30', maxSlots: 3 }), NetSubnetTooSmall.code, /2 clone addresses/);
  throwsCode(() => resolveNetworkConfig({ prefix: 'Ign' }), NetInvalidConfig.code);
  throwsCode(() => resolveNetworkConfig({ prefix: 'ignition1' }), NetInvalidConfig.code);
  // A long prefix plus a big slot count would exceed IFNAMSIZ.
  throwsCode(
    () => resolveNetworkConfig({ prefix: 'abcdefgh', hostSubnet: '10.0.0.0/8', cloneSubnet: '11.0.0.0/8', bridgeSubnet: null }),
    NetInvalidConfig.code,
    /15 bytes/,
  );
  throwsCode(() => resolveNetworkConfig({ mtu: 100 }), NetInvalidConfig.code, /MTU/);
  throwsCode(() => resolveNetworkConfig({ guestMac: '01:00:00:00:00:01' }), NetInvalidConfig.code, /multicast/);
});

test('policy resolves against defaults and validates', () => {
  const cfg = resolveNetworkConfig({ egress: false, mtu: 1400 });
  assert.equal(resolvePolicy(cfg), { egress: false, mtu: 1400, mac: '06:00:ac:10:00:02' });
  assert.equal(resolvePolicy(cfg, { egress: true, mac: '06:AA:00:00:00:01' }), { egress: true, mtu: 1400, mac: '06:aa:00:00:00:01' });
  throwsCode(() => resolvePolicy(cfg, { mtu: 65536 }), NetInvalidPolicy.code);
  throwsCode(() => resolvePolicy(cfg, { mac: 'nope' }), NetInvalidPolicy.code);
});

test.run();
