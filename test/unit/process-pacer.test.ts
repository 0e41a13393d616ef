/**
 * Pacing of background starts (platform/vmm/process/pacer.ts): the pure decision from CPU
 * counters, and real sandboxes: a background machine comes up and is left running (no process of
 * its tree stopped), and one whose start fails is cleaned up although the pacer may have had it
 * stopped at that moment. No timing is asserted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nextDuty, parseHostCpu, PACING, StartPacer } from '../../platform/vmm/process/pacer.ts';
import { ProcessDriver } from '../../platform/vmm/process/driver.ts';
import { deepChildPids, readStat } from '../../platform/vmm/process/procfs.ts';
import { MachineStartFailed } from '../../platform/vmm/errors.ts';
import { ROOT } from '../support/daemon.ts';

test('parseHostCpu: idle and iowait are not busy', () => {
  assert.equal(parseHostCpu('cpu  100 5 50 800 40 0 5 0 0 0\ncpu0 1 2 3\n'), { busy: 160, total: 1000 });
});

test('nextDuty paces while the rest of the host is busy, and lets the start run on an idle one', () => {
  const at = (hostBusy: number, hostTotal: number, tree: number) => ({ hostBusy, hostTotal, tree });
  // 200 ticks of capacity; others used 120 (60%): paced.
  assert.equal(nextDuty(at(0, 0, 0), at(150, 200, 30), PACING), { duty: PACING.duty, others: 0.6 });
  // The host was busy, but with the machine itself: nothing else to protect.
  assert.equal(nextDuty(at(0, 0, 0), at(150, 200, 140), PACING), { duty: 1, others: 0.05 });
  assert.is(nextDuty(at(0, 0, 0), at(40, 200, 0), PACING).duty, 1);
  assert.is(nextDuty(at(0, 0, 0), at(50, 200, 0), PACING).duty, PACING.duty, 'at the threshold');
  assert.is(nextDuty(at(5, 9, 0), at(5, 9, 0), PACING).duty, PACING.duty, 'no time passed: stay paced');
});

test('StartPacer lists the tree at every stop while it changes, then once a window', async () => {
  // A fake tree: the sandbox forks twice as it starts, then stays as it is. No process is signalled.
  const lists = [[101], [101, 102], [101, 102, 103]];
  let listed = 0;
  const tree = () => lists[Math.min(listed++, lists.length - 1)];
  const stops: number[][] = [];
  const conts: number[][] = [];
  // busyAbove 0: every window is paced, so the pacer keeps stopping and continuing.
  const pacer = new StartPacer(tree, (pids, sig) => (sig === 'SIGSTOP' ? stops : conts).push(pids), { periodMs: 4, duty: 0.5, busyAbove: 0, windowMs: 40 });
  pacer.start();
  await new Promise((r) => setTimeout(r, 400));
  pacer.stop();
  assert.ok(stops.length >= 10, `it paced (${stops.length} stops)`);
  assert.ok(listed < stops.length / 2, `listed ${listed} times for ${stops.length} stops`);
  assert.equal(stops[stops.length - 1], [101, 102, 103], 'the processes forked later are stopped too');
  assert.equal(conts[conts.length - 1], [101, 102, 103], 'and left running');
});

test('StartPacer keeps listing the tree at every stop until it has stayed the same over a whole window', async () => {
  // The tree looks settled for a few listings, then the sandbox forks: the fork must be paced too.
  let listed = 0;
  const tree = () => (++listed <= 3 ? [201] : [201, 202]);
  const stops: number[][] = [];
  const pacer = new StartPacer(tree, (pids, sig) => void (sig === 'SIGSTOP' && stops.push(pids)), { periodMs: 4, duty: 0.5, busyAbove: 0, windowMs: 60_000 });
  pacer.start();
  await new Promise((r) => setTimeout(r, 100));
  pacer.stop();
  assert.ok(stops.length >= 5, `it paced (${stops.length} stops)`);
  assert.ok(stops.some((pids) => pids.includes(202)), 'the process forked after a few equal listings was stopped too');
});

const dir = mkdtempSync(path.join(os.tmpdir(), 'ign-pacer-'));
const driver = new ProcessDriver({ agentPath: path.join(ROOT, 'dist', 'agent.mjs'), sandbox: 'auto', startTimeoutMs: 3000 });
let n = 0;
function boot(code: string) {
  const id = `vm_pace${++n}`;
  const bundle = path.join(dir, `${id}.mjs`);
  writeFileSync(bundle, code);
  return driver.boot({ id, workspace: path.join(dir, id), bundle, env: {}, network: false, memoryMiB: 128, vcpus: 1, labels: {}, priority: 'background' });
}

// Keeps a core of this host busy, so the pacer has a busy host to pace against.
function burn(ms: number) {
  const end = Date.now() + ms;
  const spin = () => {
    const t = Date.now() + 5;
    while (Date.now() < t) {
      // busy
    }
    if (Date.now() < end) setImmediate(spin);
  };
  spin();
}

test('a paced background start comes up, and is left running', async () => {
  burn(1500);
  const m = await boot('export default { fetch: () => new Response("ok") };\n');
  try {
    const tree = [m.pid!, ...deepChildPids(m.pid!)];
    for (const pid of tree) assert.is.not(readStat(pid)?.state, 'T', `process ${pid} was left stopped`);
    assert.is(m.state, 'running');
  } finally {
    await m.destroy();
  }
});

test('a background start that never becomes ready is stopped and removed, paced or not', async () => {
  // Children this process had before (tsx may run an esbuild service): not the machine's.
  const before = new Set(deepChildPids(process.pid));
  burn(1500);
  const id = `vm_pace${n + 1}`;
  const err = await boot('await new Promise(() => {});\nexport default { fetch: () => new Response("never") };\n').then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(MachineStartFailed.is(err), `the start failed: ${String(err)}`);
  assert.not.ok(existsSync(path.join(dir, id)), 'its workspace is gone');
  // Everything the driver started is this process's child (spawned from its worker thread).
  const left = deepChildPids(process.pid).filter((p) => !before.has(p) && readStat(p)?.state !== 'Z');
  const describe = (p: number) => `${p} (${readStat(p)?.state}) ${readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 80)}`;
  assert.equal(left, [], `no process left behind: ${left.map(describe).join('; ')}`);
});

test.after(async () => {
  await driver.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
