/**
 * Benchmark 4, control plane: the Firecracker driver against the fake Firecracker with instant
 * answers. The fake is a Node program (test/fakes/firecracker), bundled here once with esbuild so
 * each VM costs one plain `node` start rather than a TypeScript loader; it runs the real agent as
 * its guest. Two of the restore steps wait for those emulator processes to come up (`api-ready`:
 * the VMM process starting; `agent-health`: the guest agent starting after the load), which a
 * real Firecracker does without a fresh Node start. The fake also answers each API call far more
 * slowly than Firecracker (a freshly started Node process, its code not yet optimised), so wall
 * times of the steps mostly measure the emulator. The goals are therefore on the driver's own CPU
 * time (this process; the fake and its agent are other processes), which is what the platform
 * itself spends: per restore (p50, with spares), and per clone of a fork storm, which includes the
 * fork's snapshot and every clone's health check and counts only when every clone is healthy.
 * Wall times, the emulator's start-up and the spare pool's fill time are reported beside them as
 * information: they measure the fake. A storm's driver CPU per clone is held to 10 ms, what lets
 * 500 clones fit in 5 s of one core.
 *
 * Restores run twice: with spare VMMs (the driver keeps two Firecracker processes spawned ahead,
 * see platform/vmm/firecracker/spares.ts; each restore waits until the pool has refilled, the
 * steady state when restores come slower than spares start) and without (a process per restore).
 * Storms run with a pool as large as the storm where memory allows, filled before the storm (its
 * fill time is reported beside the storm), and say how many clones found a spare.
 */
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { Client } from 'undici';
import { FirecrackerDriver, type FirecrackerMachine } from '../../platform/vmm/firecracker/driver.ts';
import { probeHealth } from '../../platform/vmm/firecracker/agent.ts';
import { cloneDisk } from '../../platform/vmm/firecracker/disk.ts';
import type { BootSpec, SnapshotFiles } from '../../platform/vmm/port.ts';
import { settleProcesses } from '../../test/firecracker/support.ts';
import { AGENT, ROOT } from './lib/servers.ts';
import { memAvailable } from './lib/procs.ts';
import { fmt, mib, ms, summarize } from './lib/stats.ts';
import { goal, type BenchContext, type BenchResult, type Goal, type Table } from './lib/types.ts';

const EMULATOR_WAITS = new Set(['api-ready', 'agent-health']);
/**
 * Most spares filled before a storm: enough for the 500-fork storm (about 20 MiB each with the
 * emulator, two Node processes; a real Firecracker spare is one small process), so every clone
 * can adopt one when memory allows. Filling takes about half a second per spare here.
 */
const SPARE_CAP = 500;
/** Driver CPU per clone of a fork storm: 500 clones in 5 s of one core. */
const STORM_CPU_PER_CLONE_MS = 10;

/** Bundles the fake Firecracker into `dir` and returns an executable that runs it with plain node. */
export async function buildFake(dir: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const js = path.join(dir, 'fake-firecracker.mjs');
  await build({ entryPoints: [path.join(ROOT, 'test/fakes/firecracker/bin.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: js, logLevel: 'silent' });
  const bin = path.join(dir, 'firecracker');
  writeFileSync(bin, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(js)} "$@"\n`);
  chmodSync(bin, 0o755);
  return bin;
}

async function apiRoundTrip(workspace: string): Promise<number> {
  const t = performance.now();
  const c = new Client('http://localhost', { socketPath: path.join(workspace, 'api.sock') });
  try {
    const r = await c.request({ method: 'GET', path: '/' });
    await r.body.text();
  } finally {
    await c.close();
  }
  return performance.now() - t;
}

async function healthRoundTrip(workspace: string): Promise<number> {
  const t = performance.now();
  // The same check the driver makes (agent.ts), so this is the path a restore takes.
  await probeHealth(path.join(workspace, 'v.sock'), 10_000);
  return performance.now() - t;
}

interface RestoreSeries {
  /** CPU time of this process (the driver) during each restore call. */
  cpu: number[];
  /** CPU time of this process while the spare pool refilled after each restore. */
  refillCpu: number[];
  steps: Map<string, number[]>;
  platform: number[];
  wall: number[];
  apiRt: number[];
  healthRt: number[];
}

/** `n` sequential restores after `warmups` discarded; with a spare pool, each waits for it to refill first. */
async function restoreSeries(
  ctx: BenchContext,
  driver: FirecrackerDriver,
  snapshot: SnapshotFiles,
  label: string,
  n: number,
  warmups: number,
  spec: (id: string) => BootSpec,
): Promise<RestoreSeries> {
  const out: RestoreSeries = { cpu: [], refillCpu: [], steps: new Map(), platform: [], wall: [], apiRt: [], healthRt: [] };
  for (let i = 0; i < n + warmups; i++) {
    ctx.log(`control plane: restore ${label} ${i + 1}/${n + warmups}`);
    const r0 = process.cpuUsage();
    // Spares refill after a restore returns (one tick later); wait for that before the next one.
    await new Promise((r) => setImmediate(r));
    await driver.spares?.settled();
    const refill = process.cpuUsage(r0);
    const c0 = process.cpuUsage();
    const t = performance.now();
    const m = await driver.restore({ ...spec(`vm_${label.replace(/\W/g, '')}${i}`), bundle: undefined, snapshot });
    const took = performance.now() - t;
    const cpu = process.cpuUsage(c0);
    if (i > 0 && i - 1 >= warmups) out.refillCpu.push((refill.user + refill.system) / 1000);
    if (i >= warmups) out.cpu.push((cpu.user + cpu.system) / 1000);
    const a = await apiRoundTrip(m.workspace);
    const h = await healthRoundTrip(m.workspace);
    await m.destroy();
    if (i < warmups) continue;
    out.wall.push(took);
    out.apiRt.push(a);
    out.healthRt.push(h);
    let own = a + h;
    for (const s of m.timings) {
      out.steps.set(s.step, [...(out.steps.get(s.step) ?? []), s.ms]);
      if (!EMULATOR_WAITS.has(s.step)) own += s.ms;
    }
    out.platform.push(own);
  }
  return out;
}

export async function runControlPlane(ctx: BenchContext): Promise<BenchResult> {
  const started = Date.now();
  const restores = ctx.quick ? 5 : 40;
  const warmups = 2;
  const storms = ctx.quick ? [50] : [50, 500];
  const root = path.join(ctx.tmp, 'cp');
  mkdirSync(root, { recursive: true });
  const kernel = path.join(root, 'vmlinux');
  const rootfs = path.join(root, 'rootfs.ext4');
  writeFileSync(kernel, 'kernel stand-in: the fake only opens it');
  writeFileSync(rootfs, 'rootfs stand-in');
  truncateSync(rootfs, 16 * 1024 * 1024);
  const cloneMethod = await cloneDisk(rootfs, path.join(root, 'probe.ext4'));
  const bundle = path.join(root, 'fn.mjs');
  writeFileSync(bundle, 'export default { fetch() { return new Response("hello from a clone\\n"); } };\n');
  const binary = await buildFake(path.join(root, 'fake'));
  const generous = { startTimeoutMs: 600_000, bootAgentTimeoutMs: 600_000, restoreAgentTimeoutMs: 600_000, apiTimeoutMs: 600_000 };
  const driverOptions = { binary, kernel, rootfs, ...generous, env: { IGNITION_FC_FAKE_AGENT: AGENT }, workspacesDir: path.join(root, 'ws') };
  const driver = new FirecrackerDriver(driverOptions);
  const spec = (id: string) => ({ id, workspace: path.join(root, 'ws', id), memoryMiB: 64, vcpus: 1, env: {}, network: false, labels: {}, bundle });
  const leftovers: number[] = [];
  try {
    ctx.log('control plane: boot source and snapshot');
    const source = await driver.boot(spec('vm_src'));
    const snapshot = await source.snapshot(path.join(root, 'snap'));

    // Sequential restores with their step timings: with spare VMMs, then without.
    const withSpares = new FirecrackerDriver({ ...driverOptions, spares: 2 });
    let sp: RestoreSeries;
    try {
      sp = await restoreSeries(ctx, withSpares, snapshot, 'with spares', restores, warmups, spec);
    } finally {
      await withSpares.close();
    }
    const fresh = await restoreSeries(ctx, driver, snapshot, 'without spares', restores, warmups, spec);
    const { steps, platform, wall, apiRt, healthRt } = sp;
    const p = summarize(platform);
    const cpuS = summarize(sp.cpu);
    const refillS = summarize(sp.refillCpu);
    const freshCpu = summarize(fresh.cpu);

    // Fork storms.
    const stormRows: Table['rows'] = [];
    const stormRaw: unknown[] = [];
    const goals: Goal[] = [];
    let perCloneBytes = Number.NaN;
    let perSpareBytes = Number.NaN;
    for (const n of storms) {
      const avail = memAvailable();
      if (n > 50 && Number.isFinite(perCloneBytes) && perCloneBytes * n > 0.75 * avail) {
        const why = `skipped: ${n} clones would need about ${mib(perCloneBytes * n)} (${mib(perCloneBytes)} per clone measured in the smaller storm: an emulator process and an agent process each) and only ${mib(avail)} is available`;
        stormRows.push([n, 'skipped', '—', '—', '—', '—', '—', '—', why]);
        stormRaw.push({ clones: n, skipped: why });
        goals.push(goal(`${n}-fork storm: driver CPU per clone, every clone healthy`, null, '<=', STORM_CPU_PER_CLONE_MS, 'ms'));
        continue;
      }
      // A pool as large as the storm if the spares' memory fits (measured per spare while filling).
      // Capped at 200: spares start two at a time, and filling more would add minutes to the run.
      const poolSize = Math.min(SPARE_CAP, Number.isFinite(perSpareBytes) ? Math.max(0, Math.min(n, Math.floor((0.5 * avail) / perSpareBytes))) : n);
      ctx.log(`control plane: filling ${poolSize} spares for the ${n}-fork storm`);
      const before = memAvailable();
      const f0 = performance.now();
      const stormDriver = new FirecrackerDriver({ ...driverOptions, spares: poolSize });
      await stormDriver.spares?.settled();
      const fillSeconds = (performance.now() - f0) / 1000;
      if (poolSize > 0) perSpareBytes = Math.max(1, (before - memAvailable()) / poolSize);
      const stormSource = await stormDriver.boot(spec(`vm_src${n}`));
      const ready = stormDriver.spares?.size ?? 0;
      ctx.log(`control plane: ${n}-fork storm (${ready} spares ready)`);
      const availStorm = memAvailable();
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      const { clones } = await stormDriver.fork(stormSource, { count: n });
      const seconds = (performance.now() - t) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const healthy = clones.filter((c: FirecrackerMachine) => c.state === 'running').length;
      const adopted = clones.filter((c) => !c.timings.some((s) => s.step === 'spawn')).length;
      const used = avail - memAvailable();
      perCloneBytes = used / n;
      const own = summarize(clones.map((c) => c.timings.filter((s) => !EMULATOR_WAITS.has(s.step)).reduce((acc, s) => acc + s.ms, 0)));
      const waits = summarize(clones.map((c) => c.timings.filter((s) => EMULATOR_WAITS.has(s.step)).reduce((acc, s) => acc + s.ms, 0)));
      const d0 = performance.now();
      await Promise.all(clones.map((c) => c.destroy()));
      await stormSource.destroy();
      await stormDriver.close();
      const destroySeconds = (performance.now() - d0) / 1000;
      const driverCpuMs = (cpu.user + cpu.system) / 1000;
      const stormUsed = availStorm - (avail - used);
      stormRows.push([n, fmt(seconds, 2), `${healthy}/${n}`, `${adopted}/${n} (pool filled in ${fmt(fillSeconds, 1)} s)`, ms(own.median), ms(waits.median), fmt(driverCpuMs, 0), ms(driverCpuMs / n), `${mib(used)} with the pool (${mib(perCloneBytes)}/clone), ${mib(stormUsed)} during the storm; destroy ${fmt(destroySeconds, 2)} s`]);
      stormRaw.push({ clones: n, seconds, healthy, adoptedSpares: adopted, poolSize, poolFillSeconds: fillSeconds, perSpareBytes, platformStepsMs: own, emulatorWaitsMs: waits, driverCpuMs, memAvailableDropBytes: used, stormMemoryBytes: stormUsed, destroySeconds });
      {
        const cores = os.cpus().length;
        goals.push(
          goal(`${n}-fork storm: driver CPU per clone, every clone healthy`, healthy === n ? driverCpuMs / n : null, '<=', STORM_CPU_PER_CLONE_MS, 'ms', (m) =>
            `The driver's own work (this process) used ${fmt(driverCpuMs, 0)} ms of CPU for the ${n}-fork storm, ${ms(m)} per clone: the source's pause, snapshot and resume once, then for each clone a ${cloneMethod} disk clone (a fork's snapshot is one-off, so spares hold no clone of its disk), the load call and the health check over vsock, and a process spawn for each of the ${n - adopted} clones without a spare (a pool of ${poolSize}${poolSize < n ? `; ${poolSize === SPARE_CAP ? `the benchmark fills at most ${SPARE_CAP}` : `memory allowed no more at ${mib(perSpareBytes)} per spare`}` : ''}). For information, the storm took ${fmt(seconds, 2)} s of wall time on ${cores} cores, most of it the emulators' (each clone's waits on them ${ms(waits.median)} at the median).`),
        );
      }
    }
    await source.destroy();
    leftovers.push(...(await settleProcesses(root, 30_000)));

    const stepRows = [...steps.entries()].map(([step, xs]) => {
      const x = summarize(xs);
      return [step + (EMULATOR_WAITS.has(step) ? ' (waits on the emulator)' : ''), ms(x.median), ms(x.p99)];
    });
    const apiS = summarize(apiRt);
    const hS = summarize(healthRt);
    stepRows.push(['platform share of api-ready: one GET / on a new API connection', ms(apiS.median), ms(apiS.p99)]);
    stepRows.push(['platform share of agent-health: vsock handshake + GET /v1/health', ms(hS.median), ms(hS.p99)]);
    stepRows.push(['steps not waiting on the emulator + the two shares (wall time: includes the emulator answering each call)', ms(p.median), ms(p.p99)]);
    stepRows.push(["**the driver's CPU during the restore call**", ms(cpuS.median), ms(cpuS.p99)]);
    stepRows.push(['spare refill after the restore (driver CPU, off the restore\'s path)', ms(refillS.median), ms(refillS.p99)]);
    stepRows.push(['wall time per restore, emulator start-up included', ms(summarize(wall).median), ms(summarize(wall).p99)]);
    const freshP = summarize(fresh.platform);
    const freshWall = summarize(fresh.wall);
    const freshRows = [...fresh.steps.entries()].map(([step, xs]) => {
      const x = summarize(xs);
      return [step + (EMULATOR_WAITS.has(step) ? ' (waits on the emulator)' : ''), ms(x.median), ms(x.p99)];
    });
    freshRows.push(['steps not waiting on the emulator (wall time: includes the emulator answering each call)', ms(freshP.median), ms(freshP.p99)]);
    freshRows.push(["**the driver's CPU during the restore call**", ms(freshCpu.median), ms(freshCpu.p99)]);
    freshRows.push(['wall time per restore, emulator start-up included', ms(freshWall.median), ms(freshWall.p99)]);
    goals.unshift(
      goal('driver CPU per restore with spares (instant fake) p50', cpuS.median, '<=', 3, 'ms', (m) => {
        const top = [...steps.entries()]
          .filter(([s]) => !EMULATOR_WAITS.has(s))
          .map(([s, xs]) => [s, summarize(xs).median] as const)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3);
        return `The driver spent ${ms(m)} of CPU per restore at the median with spare VMMs (${ms(freshCpu.median)} without spares, where the process spawn and the disk clone are on the restore's path). Its largest steps by wall time: ${top.map(([s, x]) => `\`${s}\` ${ms(x)}`).join(', ')}, most of it waiting for the fake to answer.`;
      }),
    );
    return {
      id: 'control-plane',
      title: 'Control plane (Firecracker driver against the instant fake)',
      measures:
        "The Firecracker driver's own CPU per restore and per clone of a fork storm with every clone healthy, against the fake Firecracker answering instantly; step and storm wall times, which mostly measure the fake, beside them.",
      workload: `A source VM booted with a one-line function (64 MiB, 1 vCPU) and snapshotted once; then ${restores} sequential restores from that snapshot with two spare VMMs (each restore starts once the pool has refilled) and ${restores} without spares, each destroyed after; then fork storms of ${storms.join(' and ')} clones (pause, snapshot, resume once, restore every clone concurrently; healthy = the agent answered its health check over vsock). 500 runs only in full mode, and only if the memory measured in the 50-clone storm says it fits.`,
      runs: `${restores} restores after ${warmups} discarded; one run per storm.`,
      tables: [
        { title: 'Restore with spare VMMs, step by step', columns: ['step', 'p50', 'p99'], rows: stepRows },
        { title: 'Restore without spares (a process per restore), step by step', columns: ['step', 'p50', 'p99'], rows: freshRows },
        { title: 'Fork storms', columns: ['clones', 'wall s (emulator start-up included)', 'healthy', 'clones on a spare', 'platform steps per clone p50', 'emulator waits per clone p50', 'driver CPU ms (all clones)', 'driver CPU per clone', 'memory'], rows: stormRows },
      ],
      goals,
      notes: [`Disk clone method on this filesystem: ${cloneMethod}.`].concat(leftovers.length ? [`Processes left under the benchmark's root after cleanup: ${leftovers.length}.`] : ['Every emulator and agent process was gone after cleanup.']),
      raw: { cloneMethod, restores, warmups, steps: Object.fromEntries(steps), platformMs: platform, wallMs: wall, apiRoundTripMs: apiRt, healthRoundTripMs: healthRt, withoutSpares: { steps: Object.fromEntries(fresh.steps), platformMs: fresh.platform, wallMs: fresh.wall }, storms: stormRaw, leftovers },
    };
  } finally {
    for (const m of driver.machines) await m.destroy().catch(() => undefined);
    await driver.close();
    reapFakeDirs(started);
  }
}

/**
 * A fake Firecracker killed with SIGKILL (the driver's last resort when a storm's stops run past
 * their deadlines) cannot remove its private directory (os.tmpdir()/fcfake-<pid>-…). The fake's
 * own rule removes those whose process is gone; applied here to the ones made during this run.
 */
function reapFakeDirs(sinceMs: number): number {
  let removed = 0;
  for (const name of readdirSync(os.tmpdir())) {
    const m = /^fcfake-(\d+)-/.exec(name);
    if (!m) continue;
    const dir = path.join(os.tmpdir(), name);
    try {
      if (statSync(dir).mtimeMs < sinceMs) continue;
      process.kill(Number(m[1]), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') {
        rmSync(dir, { recursive: true, force: true });
        removed++;
      }
    }
  }
  return removed;
}
