/**
 * /sbin/init as PID 1, for real but contained: it runs in a chroot of the staged tree inside new
 * PID, mount and network namespaces (a veth pair named eth0 stands in for the guest NIC), so its
 * mounts, addresses and reboot() stay inside them and never touch this host. A probe agent reports
 * what init set up; reboot() in a PID namespace ends it with SIGHUP (restart) or SIGINT (power
 * off), which is how the test sees init leave the "machine" cleanly.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBaseImage, findTool } from '../../platform/image/index.ts';
import { needs, reportSkip } from '../support/needs.ts';
import { tempDir } from './support.ts';

const unshare = findTool('unshare');
const chroot = findTool('chroot');
const skip = needs('root', 'ip', 'mke2fs', 'debugfs') ?? (unshare && chroot ? null : 'needs unshare and chroot: apt-get install -y util-linux coreutils');
reportSkip('test/image/init.test.ts', skip);
const t = skip ? test.skip : test;
const tmp = tempDir('image-init');
let tree = '';

test.before(async () => {
  if (skip) return;
  const image = await buildBaseImage({
    outFile: path.join(tmp.dir, 'base.ext4'),
    workDir: path.join(tmp.dir, 'work'),
    agentBundle: fileURLToPath(new URL('./fixtures/probe-agent.mjs', import.meta.url)),
    sizeMiB: 256,
    keepTree: true,
  });
  tree = image.tree!;
});
test.after(() => tmp.cleanup());

interface Boot {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  probe: Record<string, any>;
}

function boot(cmdline: string, env: Record<string, string> = {}): Boot {
  // init gets what a kernel would hand it: a bare environment (plus the command line override
  // and any KEY=value words, which the kernel passes as environment).
  const script =
    'ip link add eth0 type veth peer name eth1 && ip link set eth1 up && ' +
    't="$1"; c="$2"; r="$3"; shift 3; exec env -i IGNITION_CMDLINE="$c" "$@" "$r" "$t" /sbin/init';
  const words = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const args = ['--pid', '--fork', '--mount', '--net', '--propagation', 'private', 'sh', '-c', script, 'sh', tree, cmdline, chroot!, ...words];
  const r = spawnSync(unshare!, args, {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('PROBE '));
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, probe: line ? JSON.parse(line.slice(6)) : {} };
}

/** unshare reports a child killed by a signal either as that signal or as 128 + its number. */
function endedWith(b: Boot, sig: 'SIGHUP' | 'SIGINT'): boolean {
  return b.signal === sig || b.status === 128 + (sig === 'SIGHUP' ? 1 : 2);
}

t('init mounts the pseudo filesystems and starts the agent on vsock port 52 as its child', () => {
  const b = boot('console=ttyS0 reboot=k');
  assert.match(b.stdout, 'ignition-agent ready');
  assert.equal(b.probe.argv, ['--vsock', '52']);
  assert.is(b.probe.ppid, 1);
  for (const m of ['/proc proc', '/sys sysfs', '/dev devtmpfs', '/dev/pts devpts', '/run tmpfs', '/tmp tmpfs']) {
    assert.ok(b.probe.mounts.includes(m), `${m} not mounted: ${b.probe.mounts}`);
  }
  assert.equal(b.probe.stdio, [true, true, true]);
  assert.is(b.probe.env.PATH, '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin');
  assert.is(b.probe.env.HOME, '/root');
  assert.match(b.stderr, 'agent exited with status 0');
  assert.ok(endedWith(b, 'SIGHUP'), `expected a restart (reboot=k path), got ${b.status}/${b.signal}`);
});

t('ignition.ip configures eth0, the default route, hostname and resolver; ignition.mtu its MTU', () => {
  const b = boot('ignition.ip=172.16.9.2::172.16.9.1:255.255.255.252:clone-7:eth0:off:172.16.9.1 ignition.mtu=1400 ignition.halt=poweroff');
  assert.equal(b.probe.eth0, ['172.16.9.2/30']);
  assert.is(b.probe.mtu, '1400', 'ignition.mtu sets the interface MTU');
  // /proc/net/route: Iface Destination Gateway …, little-endian hex; 172.16.9.1 = 0109 10AC.
  assert.match(b.probe.routes, /eth0\s+00000000\s+010910AC/);
  assert.is(b.probe.hostname, 'clone-7');
  assert.is(b.probe.resolv, 'nameserver 172.16.9.1\n');
  assert.ok(endedWith(b, 'SIGINT'), `expected a power-off, got ${b.status}/${b.signal}`);
});

t('the kernel’s ip= works too; ignition.port, ignition.listen and env pass through', () => {
  const b = boot('ip=10.0.0.5::10.0.0.1:255.255.255.0::eth0:off ignition.port=1234', { IGNITION_BUNDLE: '/opt/function/bundle.mjs' });
  assert.equal(b.probe.eth0, ['10.0.0.5/24']);
  assert.equal(b.probe.argv, ['--vsock', '1234']);
  assert.is(b.probe.env.IGNITION_BUNDLE, '/opt/function/bundle.mjs');
  const uds = boot('ignition.listen=uds');
  assert.equal(uds.probe.argv, ['--uds', '/run/ignition/agent.sock']);
});

test.run();
