/**
 * A process-driver sandbox without network (bubblewrap, platform/vmm/process/sandbox.ts) has a
 * network namespace of its own with only a loopback device: a function can use 127.0.0.1 and
 * reaches nothing else. The address tried outside gets no route inside the sandbox's namespace,
 * so nothing leaves this host. A sandbox granted network shares the host's namespace. Either way
 * the sandbox is a session of its own.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { deepChildPids } from '../../platform/vmm/process/procfs.ts';
import { readStat } from '../support/procstat.ts';
import { agentCall } from '../firecracker/support.ts';
import { ROOT } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';
import { missing } from '../support/needs.ts';
import { skipUnless } from '../support/skip.ts';

// The function tries a server of its own on the loopback device, then an address outside it.
const PROBE = `import net from 'node:net';
const attempt = (host, port) => new Promise((resolve) => {
  const s = net.connect({ host, port }, () => { s.destroy(); resolve('connected'); });
  s.on('error', (e) => resolve(e.code));
  s.setTimeout(5000, () => { s.destroy(); resolve('timeout'); });
});
export default { async fetch() {
  const server = net.createServer((c) => c.end()).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const loopback = await attempt('127.0.0.1', server.address().port);
  server.close();
  return Response.json({ loopback, outside: await attempt('10.255.255.1', 9) });
} };
`;

// Without bubblewrap the process driver has no sandbox, so there is no namespace to check.
const it = skipUnless(missing('bwrap'));
const netnsOf = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);
// The agent of a sandbox (bwrap, which sets the namespace up, stays in the host's): under the
// machine's process, since inside the sandbox its working directory is /var/task.
const agentsOf = (m: { pid?: number }) => deepChildPids(m.pid!).filter((p) => readlinkSync(`/proc/${p}/exe`) === process.execPath);

it('a sandbox without network reaches its own loopback device and nothing else', async () => {
  const dir = tempDir('psandbox-net-');
  const bundle = path.join(dir, 'probe.mjs');
  writeFileSync(bundle, PROBE);
  const driver = new ProcessDriver({ agentPath: path.join(ROOT, 'dist', 'agent.mjs'), sandbox: 'bubblewrap' });
  try {
    const m = await driver.boot({
      id: 'vm_nonet',
      workspace: path.join(dir, 'vm_nonet'),
      memoryMiB: 128,
      vcpus: 1,
      bundle,
      env: {},
      network: false,
      labels: {},
    });
    const agents = agentsOf(m);
    assert.is(agents.length, 1, 'one agent');
    assert.is.not(netnsOf(agents[0]), netnsOf(process.pid), "not in the host's network namespace");
    // Made by the launcher in place of bwrap's --new-session: no way to the daemon's terminal.
    assert.is.not(readStat(agents[0])?.session, readStat(process.pid)?.session, 'the sandbox is a session of its own');
    const res = await agentCall(m, 'GET', '/v1/invoke/');
    assert.is(res.status, 200, res.text);
    assert.equal(JSON.parse(res.text), { loopback: 'connected', outside: 'ENETUNREACH' });
    await m.destroy();
    const granted = await driver.boot({
      id: 'vm_net',
      workspace: path.join(dir, 'vm_net'),
      memoryMiB: 128,
      vcpus: 1,
      bundle,
      env: {},
      network: true,
      labels: {},
    });
    const withNet = agentsOf(granted);
    assert.is(withNet.length, 1, 'one agent');
    assert.is(netnsOf(withNet[0]), netnsOf(process.pid), "a sandbox with network shares the host's");
    await granted.destroy();
  } finally {
    await driver.close();
  }
});

it('host networking asked for by name and not on: a sandbox with network does not start in the host’s namespace', async () => {
  const dir = tempDir('psandbox-refuse-');
  const bundle = path.join(dir, 'probe.mjs');
  writeFileSync(bundle, PROBE);
  let refusal: string | null = 'host networking needs root';
  const driver = new ProcessDriver({
    agentPath: path.join(ROOT, 'dist', 'agent.mjs'),
    sandbox: 'bubblewrap',
    network: { available: () => false, attach: () => Promise.reject(new Error('never called')), refusal: () => refusal },
  });
  const spec = (id: string, network: boolean) => ({ id, workspace: path.join(dir, id), memoryMiB: 128, vcpus: 1, bundle, env: {}, network, labels: {} });
  try {
    const err = await driver.boot(spec('vm_refused', true)).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    assert.is(err?.code, 'vm_start_failed');
    assert.match(err!.message, /host networking is on in the configuration but not available \((nsenter and setpriv are missing|host networking needs root)\)/);
    // Without network it starts as ever; and where networking was not asked for by name, a
    // sandbox with network shares the host's namespace as the isolation report says.
    await (await driver.boot(spec('vm_plain', false))).destroy();
    refusal = null;
    const shared = await driver.boot(spec('vm_shared', true));
    assert.is(netnsOf(agentsOf(shared)[0]), netnsOf(process.pid));
    await shared.destroy();
  } finally {
    await driver.close();
  }
});

test.run();
