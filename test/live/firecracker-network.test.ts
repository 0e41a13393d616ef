/**
 * Host↔guest networking with real Firecracker: the VMM runs inside a network namespace this test
 * creates (through a small wrapper), with a TAP in that namespace, and the guest configured by the
 * kernel command line (`ip=`). The host side pings the guest from inside the namespace; nothing
 * touches the host's own interfaces. Needs root, ip and KVM.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirecrackerDriver, type NetworkProvider } from '../../platform/vmm/firecracker/driver.ts';
import { DEFAULT_BOOT_ARGS } from '../../platform/vmm/firecracker/options.ts';
import { reportSkip } from '../support/needs.ts';
import { settleProcesses } from '../firecracker/support.ts';
import { liveAssets, liveSkipReason } from './live-assets.ts';

const skip = liveSkipReason('root', 'ip');
reportSkip('test/live/firecracker-network.test.ts', skip);
const t = skip ? test.skip : test;

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

t('guest reachable from the host side of its TAP (inside a test namespace)', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fcn-'));
  const ns = `ignlive${process.pid}`;
  const a = liveAssets();
  ip('netns', 'add', ns);
  try {
    // Firecracker joins the namespace through this wrapper, as the jailer's --netns would.
    const wrapper = path.join(root, 'fc-in-ns');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} ${a.binary} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const network: NetworkProvider = {
      async attach() {
        ip('-n', ns, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap');
        ip('-n', ns, 'addr', 'add', '172.16.0.1/30', 'dev', 'tap0');
        ip('-n', ns, 'link', 'set', 'tap0', 'up');
        return { ifaceId: 'eth0', hostDevName: 'tap0', guestMac: '06:00:AC:10:00:02', release: () => void ip('-n', ns, 'link', 'del', 'tap0') };
      },
    };
    const driver = new FirecrackerDriver({
      binary: wrapper,
      kernel: a.kernel,
      rootfs: a.rootfs,
      network,
      bootAgentTimeoutMs: 60_000,
      bootArgs: `${DEFAULT_BOOT_ARGS} ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off`,
    });
    const m = await driver.boot({ id: 'vm_n1', workspace: path.join(root, 'ws', 'vm_n1'), memoryMiB: 256, vcpus: 1, env: {}, network: true, labels: {} });
    try {
      const out = execFileSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '5', '172.16.0.2'], { encoding: 'utf8' });
      assert.match(out, /1 received/);
    } finally {
      await m.destroy();
      await driver.close();
    }
  } finally {
    ip('netns', 'del', ns);
    assert.equal(await settleProcesses(root), []);
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
