/**
 * Benchmark 4, control plane: the Firecracker driver against the fake Firecracker with instant
 * answers. The fake is a Node program (test/fakes/firecracker), bundled here once with esbuild so
 * each VM costs one plain `node` start rather than a TypeScript loader; it runs the real agent as
 * its guest. Two of the restore steps wait for those emulator processes to come up (`api-ready`:
 * the VMM process starting; `agent-health`: the guest agent starting after the load), which a
 * real Firecracker does without a fresh Node start. "Platform time" is therefore the sum of the
 * other steps plus the platform's own share of those two, measured on the restored clone: one API
 * `GET /` on a new connection and one vsock handshake + `GET /v1/health`. Fork storms report wall
 * time with every clone healthy, the driver's own CPU and the emulators' memory.
 */
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { Client } from 'undici';
import { FirecrackerDriver, type FirecrackerMachine } from '../../platform/vmm/firecracker/driver.ts';
import { agentRequest } from '../../platform/vmm/firecracker/agent.ts';
import { cloneDisk } from '../../platform/vmm/firecracker/disk.ts';
import { settleProcesses } from '../../test/firecracker/support.ts';
import { AGENT, ROOT } from './lib/servers.ts';
import { memAvailable } from './lib/procs.ts';
import { fmt, mib, ms, summarize } from './lib/stats.ts';
import { goal, type BenchContext, type BenchResult, type Goal, type Table } from './lib/types.ts';

const EMULATOR_WAITS = new Set(['api-ready', 'agent-health']);

async function buildFake(dir: string): Promise<string> {
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
  await agentRequest(path.join(workspace, 'v.sock'), 'GET', '/v1/health', undefined, 10_000);
  return performance.now() - t;
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
  const driver = new FirecrackerDriver({ binary, kernel, rootfs, ...generous, env: { IGNITION_FC_FAKE_AGENT: AGENT }, workspacesDir: path.join(root, 'ws') });
  const spec = (id: string) => ({ id, workspace: path.join(root, 'ws', id), memoryMiB: 64, vcpus: 1, env: {}, network: false, labels: {}, bundle });
  const leftovers: number[] = [];
  try {
    ctx.log('control plane: boot source and snapshot');
    const source = await driver.boot(spec('vm_src'));
    const snapshot = await source.snapshot(path.join(root, 'snap'));

    // Sequential restores with their step timings.
    const steps = new Map<string, number[]>();
    const platform: number[] = [];
    const wall: number[] = [];
    const apiRt: number[] = [];
    const healthRt: number[] = [];
    for (let i = 0; i < restores + warmups; i++) {
      ctx.log(`control plane: restore ${i + 1}/${restores + warmups}`);
      const t = performance.now();
      const m = await driver.restore({ ...spec(`vm_r${i}`), bundle: undefined, snapshot });
      const took = performance.now() - t;
      const a = await apiRoundTrip(m.workspace);
      const h = await healthRoundTrip(m.workspace);
      await m.destroy();
      if (i < warmups) continue;
      wall.push(took);
      apiRt.push(a);
      healthRt.push(h);
      let own = a + h;
      for (const s of m.timings) {
        steps.set(s.step, [...(steps.get(s.step) ?? []), s.ms]);
        if (!EMULATOR_WAITS.has(s.step)) own += s.ms;
      }
      platform.push(own);
    }
    const p = summarize(platform);

    // Fork storms.
    const stormRows: Table['rows'] = [];
    const stormRaw: unknown[] = [];
    const goals: Goal[] = [];
    let perCloneBytes = Number.NaN;
    for (const n of storms) {
      const avail = memAvailable();
      if (n > 50 && Number.isFinite(perCloneBytes) && perCloneBytes * n > 0.75 * avail) {
        const why = `skipped: ${n} clones would need about ${mib(perCloneBytes * n)} (${mib(perCloneBytes)} per clone measured in the smaller storm: an emulator process and an agent process each) and only ${mib(avail)} is available`;
        stormRows.push([n, 'skipped', '—', '—', '—', '—', why]);
        stormRaw.push({ clones: n, skipped: why });
        goals.push(goal(`${n} forks healthy in under 5 s`, null, '<', 5, 's'));
        continue;
      }
      ctx.log(`control plane: ${n}-fork storm`);
      const cpu0 = process.cpuUsage();
      const t = performance.now();
      const { clones } = await driver.fork(source, { count: n });
      const seconds = (performance.now() - t) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const healthy = clones.filter((c: FirecrackerMachine) => c.state === 'running').length;
      const used = avail - memAvailable();
      perCloneBytes = used / n;
      const own = summarize(clones.map((c) => c.timings.filter((s) => !EMULATOR_WAITS.has(s.step)).reduce((acc, s) => acc + s.ms, 0)));
      const waits = summarize(clones.map((c) => c.timings.filter((s) => EMULATOR_WAITS.has(s.step)).reduce((acc, s) => acc + s.ms, 0)));
      const d0 = performance.now();
      await Promise.all(clones.map((c) => c.destroy()));
      const destroySeconds = (performance.now() - d0) / 1000;
      const driverCpuMs = (cpu.user + cpu.system) / 1000;
      stormRows.push([n, fmt(seconds, 2), `${healthy}/${n}`, ms(own.median), ms(waits.median), fmt(driverCpuMs, 0), `${mib(used)} (${mib(perCloneBytes)}/clone); destroy ${fmt(destroySeconds, 2)} s`]);
      stormRaw.push({ clones: n, seconds, healthy, platformStepsMs: own, emulatorWaitsMs: waits, driverCpuMs, memAvailableDropBytes: used, destroySeconds });
      {
        const cores = os.cpus().length;
        goals.push(
          goal(`${n} forks healthy in under 5 s`, healthy === n ? seconds : null, '<', 5, 's', (m) =>
            `The ${n}-fork storm took ${fmt(m, 2)} s. The driver's own work (this process) used ${fmt(driverCpuMs, 0)} ms of CPU, ${fmt(driverCpuMs / n, 1)} ms per clone (a ${cloneMethod} disk clone and a process spawn each); each clone's platform steps took ${ms(own.median)} at the median and its waits on the emulator ${ms(waits.median)}, because ${n * 2} Node processes (fake VMM and a fresh agent per clone) started on ${cores} cores alongside the driver. The driver's CPU alone bounds the storm at about ${fmt(driverCpuMs / 1000 / cores, 2)} s here; a real Firecracker restores without starting Node, and its agent resumes instead of starting.`),
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
    stepRows.push(['**platform time per restore** (steps not waiting on the emulator + the two shares)', ms(p.median), ms(p.p99)]);
    stepRows.push(['wall time per restore, emulator start-up included', ms(summarize(wall).median), ms(summarize(wall).p99)]);
    goals.unshift(
      goal('platform time per restore (instant fake) p50 < 3 ms', p.median, '<', 3, 'ms', (m) => {
        const top = [...steps.entries()]
          .filter(([s]) => !EMULATOR_WAITS.has(s))
          .map(([s, xs]) => [s, summarize(xs).median] as const)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 3);
        return `Platform time per restore was ${ms(m)} at the median. Its largest steps: ${top.map(([s, x]) => `\`${s}\` ${ms(x)}`).join(', ')}; the API round trip added ${ms(apiS.median)} and the vsock health round trip ${ms(hS.median)}. The disk clone used the ${cloneMethod} method on this filesystem${cloneMethod === 'sparse' ? ' (no reflink: the whole image is read to find its holes)' : ''}.`;
      }),
    );
    return {
      id: 'control-plane',
      title: 'Control plane (Firecracker driver against the instant fake)',
      measures: 'The Firecracker driver\'s own time per restore, step by step, and the wall time of fork storms with every clone healthy, against the fake Firecracker answering instantly.',
      workload: `A source VM booted with a one-line function (64 MiB, 1 vCPU) and snapshotted once; then ${restores} sequential restores from that snapshot, each destroyed after; then fork storms of ${storms.join(' and ')} clones (pause, snapshot, resume once, restore every clone concurrently; healthy = the agent answered its health check over vsock). 500 runs only in full mode, and only if the memory measured in the 50-clone storm says it fits.`,
      runs: `${restores} restores after ${warmups} discarded; one run per storm.`,
      tables: [
        { title: 'Restore, step by step', columns: ['step', 'p50', 'p99'], rows: stepRows },
        { title: 'Fork storms', columns: ['clones', 'wall s', 'healthy', 'platform steps per clone p50', 'emulator waits per clone p50', 'driver CPU ms (all clones)', 'memory'], rows: stormRows },
      ],
      goals,
      notes: [`Disk clone method on this filesystem: ${cloneMethod}.`].concat(leftovers.length ? [`Processes left under the benchmark's root after cleanup: ${leftovers.length}.`] : ['Every emulator and agent process was gone after cleanup.']),
      raw: { cloneMethod, restores, warmups, steps: Object.fromEntries(steps), platformMs: platform, wallMs: wall, apiRoundTripMs: apiRt, healthRoundTripMs: healthRt, storms: stormRaw, leftovers },
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
