/**
 * Benchmark 3, fresh isolation: one instance per request (destroyed after it), with spares
 * started ahead by the pool, next to reuse mode, under the same steady closed-loop load. The
 * instances' start timings and the rate at which the host can start them explain the gap: in
 * fresh mode the sustainable rate is bounded by instance starts per second.
 */
import os from 'node:os';
import { closedLoop, type LoadResult } from './lib/load.ts';
import { cpuMsOf, processTree, reapedCpuMs } from './lib/procs.ts';
import { bundleHello, deployCode, fnTarget, instances, startDaemon } from './lib/servers.ts';
import { fmt, ms, ratio, summarize } from './lib/stats.ts';
import { goal, type BenchContext, type BenchResult } from './lib/types.ts';

export async function runFresh(ctx: BenchContext): Promise<BenchResult> {
  const connections = 4;
  const durationMs = ctx.quick ? 3000 : 15_000;
  const warmupMs = ctx.quick ? 1000 : 3000;
  const spares = 8;
  const bundle = await bundleHello();
  const daemon = await startDaemon();
  try {
    await deployCode(daemon, 'bench-reuse', bundle.code, bundle.map, { minWarm: 1 });
    await deployCode(daemon, 'bench-fresh', `${bundle.code}\n// fresh\n`, bundle.map, { isolation: 'fresh', minWarm: spares, maxInstances: 32, queueSize: 10_000 });
    const results: Record<'reuse' | 'fresh', LoadResult> = {} as never;
    const cpu: Record<'reuse' | 'fresh', number> = { reuse: 0, fresh: 0 };
    for (const mode of ['reuse', 'fresh'] as const) {
      ctx.log(`fresh: ${mode}`);
      // The daemon and every instance it starts (instances come and go in fresh mode).
      const before = cpuMsOf(processTree(daemon.child.pid!)) + reapedCpuMs(daemon.child.pid!);
      results[mode] = await closedLoop(fnTarget(daemon.url, `bench-${mode}`), { connections, durationMs, warmupMs });
      // Exited instances' CPU lands in the daemon's cutime/cstime, so those count too.
      cpu[mode] = cpuMsOf(processTree(daemon.child.pid!)) + reapedCpuMs(daemon.child.pid!) - before;
    }
    // Start latency of the spares that exist now (their own step timings).
    const starts = (await instances(daemon, 'bench-fresh')).map((i) => i.timings?.find((t) => t.step === 'total')?.ms).filter((x): x is number => typeof x === 'number');
    const startMs = summarize(starts).median;
    const r = results.reuse;
    const f = results.fresh;
    const p50Ratio = f.latency.median / r.latency.median;
    const cores = os.cpus().length;
    const freshCpuPerReq = cpu.fresh / (f.rps * ((durationMs + warmupMs) / 1000));
    const ceiling = (cores * 1000) / freshCpuPerReq;
    // Little's law: starts in flight = start rate × start latency.
    const inFlight = (f.rps * startMs) / 1000;
    const cpuBound = f.rps >= 0.7 * ceiling;
    const why = (m: number) =>
      `Fresh isolation's p50 was ${ratio(m)} of reuse mode's. Every fresh request consumes a whole instance; an instance start took ${ms(startMs)} (its step timings) and ${fmt(freshCpuPerReq, 1)} ms of host CPU. ` +
      (cpuBound
        ? `With ${cores} cores that bounds fresh mode near ${fmt(ceiling, 0)} starts per second, which the load reached, so spares ran out and requests waited for starts: cheaper starts (sandbox spawn, agent start-up) raise the bound.`
        : `The CPU allowed about ${fmt(ceiling, 0)} starts per second but only ${fmt(f.rps, 1)} were served, i.e. about ${fmt(inFlight, 1)} starts in flight at a time (rate × start latency): the pool starts too few spares ahead for this load, so each request waits for most of a start. Starting spares in proportion to the request rate times the start latency, and cheaper starts, close the gap.`);
    return {
      id: 'fresh',
      title: 'Fresh isolation',
      measures: 'Requests/s and latency with one instance per request (isolation fresh, spares started ahead) next to reuse mode, under the same steady load.',
      workload: `GET / on the benchmark handler, ${connections} connections closed loop for ${durationMs / 1000} s after ${warmupMs / 1000} s of discarded warm-up. fresh: minWarm ${spares} (spares), maxInstances 32; reuse: minWarm 1, defaults otherwise. Process driver.`,
      runs: '1 run per mode, back to back; percentiles over every request of the run.',
      tables: [
        {
          columns: ['mode', 'req/s', 'p50', 'p99', 'errors', 'host CPU ms per request'],
          rows: [
            ['reuse', fmt(r.rps, 0), ms(r.latency.median), ms(r.latency.p99), r.errors, fmt(cpu.reuse / (r.rps * ((durationMs + warmupMs) / 1000)), 2)],
            ['fresh (spares ahead)', fmt(f.rps, 0), ms(f.latency.median), ms(f.latency.p99), f.errors, fmt(freshCpuPerReq, 2)],
          ],
        },
      ],
      goals: [
        goal('fresh isolation p50 within 2× of reuse p50 (steady load)', p50Ratio, '<=', 2, '×', why),
      ],
      notes: [`Instance start (fresh spares, step total): p50 ${ms(startMs)} over ${starts.length} instances.`, `Fresh mode served ${ratio(f.rps / r.rps)} of reuse mode's requests/s.`],
      raw: { startMsSamples: starts, startMsMedian: startMs, startsInFlight: inFlight, connections, durationMs, warmupMs, spares, reuse: { ...r, samples: undefined }, fresh: { ...f, samples: undefined }, cpuMs: cpu, p50Ratio, startsPerSecondCeiling: ceiling },
    };
  } finally {
    await daemon.stop();
  }
}
