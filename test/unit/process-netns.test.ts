/**
 * Network namespaces made ahead for sandboxes without network (platform/vmm/process/netns.ts),
 * real ones, as root: each holds only a loopback device, up; one is lent to one sandbox at a time
 * and comes back only once nothing is left in it; close() unmounts them all; ones a crashed
 * daemon left are unmounted by the next pool; and the process driver starts sandboxes without
 * network inside them (and every process of the sandbox is there). Nothing is timed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NetnsPool, netnsInUse, netnsSupport, type CommandRunner, type NetnsTools } from '../../platform/vmm/process/netns.ts';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { findBwrap } from '../../platform/vmm/process/sandbox.ts';
import { silentLogger } from '../../platform/log.ts';
import { agentCall, processesUnder } from '../firecracker/support.ts';
import { ROOT } from '../support/daemon.ts';
import { tempDir } from '../support/tmp.ts';

const support = netnsSupport();
const skip = 'reason' in support ? support.reason : findBwrap() ? null : 'bubblewrap is not installed';
if (skip) {
  console.log(`test/unit/process-netns.test.ts: skipped: ${skip}. Run as root on a host with bubblewrap, util-linux and iproute2: sudo apt-get install -y bubblewrap iproute2 && sudo node --import tsx test/unit/process-netns.test.ts`);
} else {
  const tools = (support as { tools: NetnsTools }).tools;
  const run: CommandRunner = (file, args) =>
    new Promise((resolve) => execFile(file, args, (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr })));
  const root = tempDir('pnetns-');
  const logged: string[] = [];
  const logger = { ...silentLogger, warn: (msg: string) => void logged.push(msg), child: () => logger } as typeof silentLogger;
  const pool = (dir: string, initial = 2) => new NetnsPool({ dir, tools, run, logger, initial, maxFree: 2, releaseDelayMs: 20 });

  /** Lines of /proc/self/mountinfo that mount something under `dir`. */
  const mountsUnder = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(`${dir}/`));
  const links = (file: string) => execFileSync(tools.nsenter, [`--net=${file}`, tools.ip, '-o', 'link', 'show'], { encoding: 'utf8' });
  const released = async (p: NetnsPool, free: number) => {
    for (let i = 0; i < 200 && p.stats.free !== free; i++) await new Promise((r) => setTimeout(r, 20));
    await p.settled();
  };

  test('namespaces made ahead hold only a loopback device, up; one is lent at a time; close() unmounts them', async () => {
    const dir = path.join(root, 'a');
    const p = pool(dir);
    await p.settled();
    assert.equal(p.stats, { free: 2, lent: 0 });
    assert.is(mountsUnder(dir).length, 2, 'two bind mounts');
    const a = p.take()!;
    const b = p.take()!;
    assert.ok(a && b && a !== b);
    const shown = links(a).trim().split('\n');
    assert.is(shown.length, 1, 'one device');
    assert.match(shown[0], /: lo: <LOOPBACK,UP,LOWER_UP>/);
    assert.is(statSync(a).ino !== statSync(b).ino, true, 'two different namespaces');
    // None left: the caller falls back to a new namespace, and one more is made for next time.
    assert.is(p.take(), undefined);
    await p.settled();
    assert.equal(p.stats, { free: 1, lent: 2 });
    p.release(a);
    await released(p, 2);
    assert.equal(p.stats, { free: 2, lent: 1 });
    await p.close();
    assert.equal(mountsUnder(dir), [], 'every namespace unmounted, lent ones included');
    assert.not.ok(existsSync(dir));
  });

  test('a namespace that still has a process in it is not lent again: it is dropped', async () => {
    const dir = path.join(root, 'b');
    const p = pool(dir, 1);
    await p.settled();
    const file = p.take()!;
    const straggler = spawn(tools.nsenter, [`--net=${file}`, 'sleep', '30'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 100 && !netnsInUse(file); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(netnsInUse(file), 'the straggler is in the namespace');
      p.release(file, 1);
      for (let i = 0; i < 200 && p.stats.lent > 0; i++) await new Promise((r) => setTimeout(r, 20));
      await p.settled();
      assert.equal(p.stats, { free: 0, lent: 0 }, 'not free again');
      assert.not.ok(existsSync(file), 'unmounted and removed');
      assert.ok(logged.some((m) => /still has processes/.test(m)));
    } finally {
      straggler.kill('SIGKILL');
      await p.close();
    }
  });

  test('namespaces a crashed daemon left are unmounted by the next pool', async () => {
    const dir = path.join(root, 'c');
    const crashed = pool(dir);
    await crashed.settled();
    const left = readdirSync(dir);
    assert.is(left.length, 2);
    const next = pool(dir, 1);
    await next.settled();
    for (const name of left) assert.not.ok(existsSync(path.join(dir, name)), `${name} removed`);
    assert.is(mountsUnder(dir).length, 1, "only the new pool's namespace");
    await next.close();
    assert.equal(mountsUnder(dir), []);
  });

  test('the process driver starts a sandbox without network inside a namespace of the pool, and lends it again after', async () => {
    const dir = path.join(root, 'd');
    const ws = path.join(dir, 'ws');
    const bundle = path.join(dir, 'hello.mjs');
    mkdirSync(dir, { recursive: true });
    // The function tries the loopback device (a server of its own) and an address outside it. In a
    // namespace with nothing but lo the latter fails at once (no route): nothing leaves this host.
    writeFileSync(
      bundle,
      `import net from 'node:net';
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
`,
    );
    const driver = new ProcessDriver({ agentPath: path.join(ROOT, 'dist', 'agent.mjs'), sandbox: 'auto', workspacesDir: ws, netnsDir: path.join(dir, 'netns') });
    const inodes = () => new Set(readdirSync(path.join(dir, 'netns')).map((n) => statSync(path.join(dir, 'netns', n)).ino));
    const netnsOf = (pid: number) => Number(/net:\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))![1]);
    try {
      assert.match(driver.sandboxReason, /reuse network namespaces/);
      await driver.netns!.settled();
      const spec = (id: string) => ({ id, workspace: path.join(ws, id), memoryMiB: 128, vcpus: 1, bundle, env: {}, network: false, labels: {} });
      const first = await driver.boot(spec('vm_n1'));
      const pids = processesUnder(path.join(ws, 'vm_n1'));
      assert.ok(pids.length >= 2, 'bwrap and the agent');
      const ns = new Set(pids.map(netnsOf));
      assert.is(ns.size, 1, 'every process of the sandbox in one namespace');
      const [inode] = [...ns];
      assert.ok(inodes().has(inode), "it is one of the pool's");
      assert.is.not(inode, netnsOf(process.pid), "not the host's");
      assert.is(driver.netns!.stats.lent, 1);
      const res = await agentCall(first, 'GET', '/v1/invoke/');
      assert.is(res.status, 200, res.text);
      assert.equal(JSON.parse(res.text), { loopback: 'connected', outside: 'ENETUNREACH' }, 'loopback works, nothing else is reachable');
      await first.destroy();
      await released(driver.netns!, driver.netns!.stats.free + 1);
      assert.is(driver.netns!.stats.lent, 0, 'back once the sandbox is gone');
      const again = await driver.boot(spec('vm_n2'));
      assert.ok(inodes().has(netnsOf(processesUnder(path.join(ws, 'vm_n2'))[0])), 'the next sandbox is in one of them too');
      const withNet = await driver.boot({ ...spec('vm_n3'), network: true });
      assert.is(netnsOf(processesUnder(path.join(ws, 'vm_n3'))[0]), netnsOf(process.pid), 'a sandbox with network is not');
      await again.destroy();
      await withNet.destroy();
    } finally {
      await driver.close();
    }
    assert.equal(mountsUnder(dir), [], 'close() unmounted them all');
  });
}

test.run();
