/**
 * The Firecracker driver's own CPU per restore, alone, for profiling: the control-plane
 * benchmark's restore loop (scripts/bench/control-plane.ts) without its tables, against the
 * bundled instant fake. Prints the driver's CPU (this process only: the fake and its agent are
 * other processes) per restore, with spare VMMs or without, and the step wall times.
 *
 *   node --import tsx scripts/profile/restore.ts [--restores=200] [--spares=2]
 *   node --cpu-prof --cpu-prof-dir=<dir> --import tsx scripts/profile/restore.ts
 *
 * The second form writes a V8 CPU profile of the whole run (open it in Chrome DevTools); the
 * restores dominate it once `--restores` is large.
 */
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FirecrackerDriver } from '../../platform/vmm/firecracker/driver.ts';
import { buildFake } from '../bench/control-plane.ts';
import { AGENT } from '../bench/lib/servers.ts';
import { summarize } from '../bench/lib/stats.ts';

const { values } = parseArgs({
  options: {
    restores: { type: 'string', default: '200' },
    spares: { type: 'string', default: '2' },
    warmups: { type: 'string', default: '5' },
    windows: { type: 'string' },
  },
});
const restores = Number(values.restores);
const spares = Number(values.spares);
const warmups = Number(values.warmups);

const root = mkdtempSync(path.join(os.tmpdir(), 'ign-prof-'));
const kernel = path.join(root, 'vmlinux');
const rootfs = path.join(root, 'rootfs.ext4');
writeFileSync(kernel, 'kernel stand-in');
writeFileSync(rootfs, 'rootfs stand-in');
truncateSync(rootfs, 16 * 1024 * 1024);
const bundle = path.join(root, 'fn.mjs');
writeFileSync(bundle, 'export default { fetch() { return new Response("hi\\n"); } };\n');
const binary = await buildFake(path.join(root, 'fake'));
const generous = { startTimeoutMs: 600_000, bootAgentTimeoutMs: 600_000, restoreAgentTimeoutMs: 600_000, apiTimeoutMs: 600_000 };
const ws = path.join(root, 'ws');
mkdirSync(ws);
const options = { binary, kernel, rootfs, ...generous, env: { IGNITION_FC_FAKE_AGENT: AGENT }, workspacesDir: ws };
const spec = (id: string) => ({ id, workspace: path.join(ws, id), memoryMiB: 64, vcpus: 1, env: {}, network: false, labels: {}, bundle });

// The driver's CPU between one step's end and the next one's: each step's own CPU (the first
// step's includes what the restore call does before it).
let mark = process.cpuUsage();
const stepCpu = new Map<string, number[]>();
const onStep = (e: { step: string; flow: string }) => {
  const c = process.cpuUsage(mark);
  mark = process.cpuUsage();
  if (e.flow === 'restore') stepCpu.set(e.step, [...(stepCpu.get(e.step) ?? []), (c.user + c.system) / 1000]);
};
const booter = new FirecrackerDriver(options);
const driver = new FirecrackerDriver({ ...options, spares, onStep });
try {
  const source = await booter.boot(spec('vm_src'));
  const snapshot = await source.snapshot(path.join(root, 'snap'));
  await source.destroy();
  const cpu: number[] = [];
  stepCpu.clear();
  // [start, end] of each measured restore call in microseconds of the monotonic clock, which is
  // the clock of a V8 CPU profile's timestamps: lets a profile be cut down to the restores alone.
  const windows: Array<[number, number]> = [];
  const steps = new Map<string, number[]>();
  for (let i = 0; i < restores + warmups; i++) {
    await new Promise((r) => setImmediate(r));
    await driver.spares?.settled();
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    mark = c0;
    const m = await driver.restore({ ...spec(`vm_r${i}`), bundle: undefined, snapshot });
    const c = process.cpuUsage(c0);
    if (i >= warmups) windows.push([Number(t0 / 1000n), Number(process.hrtime.bigint() / 1000n)]);
    await m.destroy();
    if (i < warmups) {
      stepCpu.clear();
      continue;
    }
    cpu.push((c.user + c.system) / 1000);
    for (const s of m.timings) steps.set(s.step, [...(steps.get(s.step) ?? []), s.ms]);
  }
  const s = summarize(cpu);
  const f = (x: number) => x.toFixed(3);
  console.log(`driver CPU per restore (spares ${spares}, n ${s.n}): p50 ${f(s.median)} ms, mean ${f(s.mean)} ms, min ${f(s.min)} ms, p99 ${f(s.p99)} ms`);
  for (const [step, xs] of steps)
    console.log(`  ${step}: wall p50 ${f(summarize(xs).median)} ms, driver CPU p50 ${f(summarize(stepCpu.get(step) ?? []).median)} ms`);
  if (values.windows) writeFileSync(values.windows, JSON.stringify(windows));
} finally {
  await driver.close();
  await booter.close();
  rmSync(root, { recursive: true, force: true });
}
