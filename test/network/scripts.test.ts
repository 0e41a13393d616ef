/** The rendered scripts and the error catalogue, without root: what set-up would run, pinned. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorCatalogue } from '../../platform/errors.ts';
import '../../platform/network/errors.ts';
import { createSlotScript, destroySlotScript, hostScript, slotNft, slotPolicyScript } from '../../platform/network/scripts.ts';
import { resolveNetworkConfig, resolvePolicy, slotLayout } from '../../platform/network/slot.ts';

const cfg = resolveNetworkConfig({ tapUid: 1000, tapGid: 1000 });
const s = slotLayout(cfg, 5);
const policy = resolvePolicy(cfg);

function count(text: string, re: RegExp): number {
  return (text.match(re) ?? []).length;
}

test('create is one script: one host ip batch, one slot ip batch, one nft load', () => {
  const script = createSlotScript(cfg, s, policy);
  assert.is(count(script, /^ip -batch -/gm), 1);
  assert.is(count(script, /^ip -n ign-5 -batch -/gm), 1);
  assert.is(count(script, /exec nft -f -/g), 1);
  assert.match(script, 'netns add ign-5\n');
  assert.match(script, 'link add ign-v5 mtu 1500 type veth peer name veth0 mtu 1500 netns ign-5\n');
  assert.match(script, 'route add 10.202.0.6/32 via 10.201.0.22 dev ign-v5\n');
  assert.match(script, 'tuntap add dev tap0 mode tap user 1000 group 1000\n');
  assert.match(script, 'route add default via 10.201.0.21 dev veth0\n');
});

test('slot nft: DNAT from the clone address, masquerade, egress on/off', () => {
  const on = slotNft(s, policy).join('\n');
  assert.match(on, 'iifname "veth0" ip daddr 10.202.0.6 dnat to 172.16.0.2');
  assert.match(on, 'oifname "veth0" ip saddr 172.16.0.2 masquerade');
  assert.match(on, 'iifname "tap0" oifname "veth0" accept');
  const off = slotNft(s, { ...policy, egress: false }).join('\n');
  assert.match(off, 'iifname "tap0" reject with icmp type admin-prohibited');
  assert.not.match(off, 'oifname "veth0" accept');
  // Nothing opens a connection to the slot's own addresses from outside, egress or not.
  for (const t of [on, off])
    assert.match(t, 'chain input {\n    type filter hook input priority filter; policy accept;\n    iifname "veth0" ct state new drop\n  }');
  // A process sandbox runs in the slot itself: its own packets meet the output chain.
  assert.match(
    off,
    'chain output {\n    type filter hook output priority filter; policy accept;\n    oifname "veth0" ct state established,related accept\n    oifname "veth0" reject',
  );
  assert.not.match(on, 'chain output');
});

test('policy script touches only what changed', () => {
  assert.is(slotPolicyScript(s, policy, policy), '');
  const mtuOnly = slotPolicyScript(s, policy, { ...policy, mtu: 1400 });
  assert.match(mtuOnly, 'link set ign-v5 mtu 1400');
  assert.not.match(mtuOnly, 'nft');
  const egressOnly = slotPolicyScript(s, policy, { ...policy, egress: false });
  assert.match(egressOnly, 'nft -f -');
  assert.not.match(egressOnly, 'mtu');
});

test('teardown is one forgiving ip batch', () => {
  assert.is(destroySlotScript(s), "ip -force -batch - <<'IGN_HOST'\nlink del ign-v5\nnetns del ign-5\nIGN_HOST\n");
});

test('host table: one table of ours, replaced atomically, scoped to our prefix', () => {
  const script = hostScript(cfg, { createBridge: true, bridgeEgress: ['10.203.0.2'] });
  assert.match(script, 'add table inet ignition\ndelete table inet ignition\ntable inet ignition {');
  assert.match(script, 'iifname "ign-v*" oifname "ign-v*" drop');
  const metadata = 'ip daddr { 169.254.0.0/16, 100.100.100.200, 168.63.129.16 } reject with icmp type admin-prohibited';
  assert.match(script, `iifname "ign-v*" ${metadata}`);
  assert.match(script, `iifname "ign-br0" ${metadata}`);
  // The host's own addresses, judged before a port forward of the host's can rewrite them.
  assert.match(script, 'chain prerouting {\n    type filter hook prerouting priority -150; policy accept;');
  assert.match(script, 'iifname "ign-v*" ct state new fib daddr type local drop');
  assert.match(script, 'iifname "ign-br0" ct state new fib daddr type local drop');
  assert.match(script, 'iifname "ign-v*" ip saddr != { 10.201.0.0/16, 10.202.0.0/16 } drop', 'a slot sends only from its own addresses');
  assert.match(script, 'iifname "ign-v*" oifname "ign-br0" drop', 'nor to bridge VMs');
  assert.match(script, 'ip saddr 10.201.0.0/16 oifname != "ign-v*" masquerade');
  assert.match(script, 'add element inet ignition bridge_egress { 10.203.0.2 }');
  assert.match(script, 'link add ign-br0 type bridge');
  assert.is(count(script, /table (ip|inet|ip6|arp|bridge|netdev) (?!ignition)/g), 0, 'no other table is named');
});

test('host table: name queries to the configured resolvers pass the metadata and host rules; none without resolvers', () => {
  const withDns = resolveNetworkConfig({ dns: ['169.254.169.254', '10.0.0.53'] }, () => []);
  const script = hostScript(withDns, { createBridge: true, bridgeEgress: [] });
  const accept = 'ip daddr { 169.254.169.254, 10.0.0.53 } meta l4proto { tcp, udp } th dport 53 accept';
  const slotAccept = `iifname "ign-v*" ${accept}`;
  const bridgeAccept = `iifname "ign-br0" ip saddr @bridge_egress ${accept}`;
  assert.is(count(script, new RegExp(slotAccept.replace(/[.*{}]/g, '\\$&'), 'g')), 3, 'in prerouting, forward and input');
  assert.is(count(script, new RegExp(bridgeAccept.replace(/[.*{}@]/g, '\\$&'), 'g')), 3, 'for bridge VMs with egress too');
  const prerouting = script.slice(script.indexOf('chain prerouting'), script.indexOf('chain forward'));
  const forward = script.slice(script.indexOf('chain forward'), script.indexOf('chain input'));
  const input = script.slice(script.indexOf('chain input'), script.indexOf('chain postrouting'));
  const before = (chain: string, first: string, then: string, what: string) => {
    const [a, b] = [chain.indexOf(first), chain.indexOf(then)];
    assert.ok(a >= 0 && b >= 0 && a < b, `${what}: ${first} comes before ${then}`);
  };
  before(prerouting, slotAccept, 'iifname "ign-v*" ct state new fib daddr type local drop', 'slots, prerouting');
  before(prerouting, bridgeAccept, 'iifname "ign-br0" ct state new fib daddr type local drop', 'the bridge, prerouting');
  before(forward, slotAccept, 'iifname "ign-v*" ip daddr { 169.254.0.0/16', 'slots, forward');
  before(forward, bridgeAccept, 'iifname "ign-br0" ip daddr { 169.254.0.0/16', 'the bridge, forward');
  before(input, slotAccept, 'iifname "ign-v*" ct state new drop', 'slots, input');
  before(input, bridgeAccept, 'iifname "ign-br0" ct state new drop', 'the bridge, input');
  const without = hostScript(
    resolveNetworkConfig({}, () => []),
    { createBridge: false, bridgeEgress: [] },
  );
  assert.not.match(without, 'dport 53');
});

test('nothing but validated words reach a script', () => {
  assert.throws(() => createSlotScript(cfg, { ...s, netns: 'x; rm -rf /' }, policy), /refusing/);
});

test('error catalogue: every network code is net_ prefixed with a 4xx/5xx status', () => {
  const ours = [...errorCatalogue().values()].filter((f) => f.code.startsWith('net_'));
  assert.ok(ours.length >= 12);
  for (const f of ours) assert.ok(f.status >= 400 && f.status < 600, f.code);
});

test.run();
