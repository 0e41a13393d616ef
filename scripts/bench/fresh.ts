/**
 * Benchmark 3, fresh isolation: one instance per request (destroyed after it).
 *
 * The goal's measurement is an open loop (requests due at a fixed rate, latency from when each
 * was due: lib/open-loop.ts) at 10 requests/s against a function deployed with `isolation: fresh`
 * and the defaults otherwise, then a short step search for the sustainable fresh rate: the highest
 * rate tried with p50 ≤ 100 ms, no error and no refusal. Refusals (429) are counted apart from
 * errors: past its capacity the pool is meant to refuse quickly rather than queue for seconds.
 * The same rate in reuse isolation is the reference, and the CPU per fresh request (the daemon's
 * process tree, exited instances included) explains the rate per core.
 */
import os from 'node:os';
import { openLoop, type OpenSample } from './lib/open-loop.ts';
import { cpuMsOf, processTree, reapedCpuMs } from './lib/procs.ts';
import { bundleHello, deployCode, instances, startDaemon } from './lib/servers.ts';
import { fmt, ms, ratio, sleep, summarize } from './lib/stats.ts';
import type { TestDaemon } from '../../test/support/daemon.ts';
import { goal, type BenchContext, type BenchResult } from './lib/types.ts';

/** The issue's goal: this rate, sustained, at p50 ≤ GOAL_P50_MS with no error. */
const GOAL_RATE = 10;
const GOAL_P50_MS = 100;
/** Rates of the step search (requests/s); it stops at the first one that is not sustained. */
const STEPS = [5, 10, 15, 20, 30, 40, 60];
const OPEN_CONNECTIONS = 64;

interface OpenRun {
  rate: number;
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** Failures other than refusals (any status but 200 and 429, or a client error). */
  errors: number;
  refused: number;
  /** p99 of the time a refused request took to be refused (from when it was due). */
  refusedP99: number;
  lagP99: number;
  sustained: boolean;
  /** Requests issued, ramp included. */
  issued: number;
}

/** One open-loop run of `measureMs` at `rate` after a ramp of `rampMs` (its requests discarded). */
async function openRun(daemon: TestDaemon, fn: string, rate: number, rampMs: number, measureMs: number): Promise<OpenRun> {
  const t0 = performance.now();
  const res = await openLoop(daemon.url, `/fn/${fn}/`, { rate, connections: OPEN_CONNECTIONS, rampMs, until: () => performance.now() - t0 > rampMs + measureMs });
  const kept = res.samples.filter((x: OpenSample) => x.at - t0 >= rampMs);
  const ok = summarize(kept.filter((x) => x.ok).map((x) => x.ms));
  const all = summarize(kept.map((x) => x.ms));
  const refusedSamples = kept.filter((x) => x.failure === '429');
  const errors = kept.filter((x) => !x.ok && x.failure !== '429').length;
  // The p50 is over every request (a refused one is quick but not served: a rate whose requests
  // are partly refused is not sustained, whatever its p50).
  const sustained = errors === 0 && refusedSamples.length === 0 && all.median <= GOAL_P50_MS;
  return {
    rate,
    n: kept.length,
    p50: ok.median,
    p99: ok.p99,
    max: ok.max,
    errors,
    refused: refusedSamples.length,
    refusedP99: summarize(refusedSamples.map((x) => x.ms)).p99,
    lagP99: summarize(kept.map((x) => x.lagMs)).p99,
    sustained,
    issued: res.samples.length,
  };
}

export async function runFresh(ctx: BenchContext): Promise<BenchResult> {
  const cores = os.cpus().length;
  const goalMs = ctx.quick ? 5000 : 15_000;
  const stepMs = ctx.quick ? 3000 : 5000;
  const rampMs = ctx.quick ? 1000 : 2000;
  const bundle = await bundleHello();
  // A function with `isolation: fresh` and the defaults otherwise, as a user would deploy it, and
  // the same code in reuse isolation for reference.
  const daemon = await startDaemon();
  let goalRun: OpenRun;
  let reuseRun: OpenRun;
  let cpuPerRequest: number;
  const steps: OpenRun[] = [];
  let startMs: number[] = [];
  try {
    await deployCode(daemon, 'bench-reuse', bundle.code, bundle.map, {});
    await deployCode(daemon, 'bench-fresh', `${bundle.code}\n// fresh\n`, bundle.map, { isolation: 'fresh' });
    ctx.log(`fresh: reuse at ${GOAL_RATE}/s`);
    reuseRun = await openRun(daemon, 'bench-reuse', GOAL_RATE, rampMs, goalMs);
    ctx.log(`fresh: fresh at ${GOAL_RATE}/s`);
    // The daemon and every instance it starts; exited instances' CPU lands in its cutime/cstime.
    const before = cpuMsOf(processTree(daemon.child.pid!)) + reapedCpuMs(daemon.child.pid!);
    goalRun = await openRun(daemon, 'bench-fresh', GOAL_RATE, rampMs, goalMs);
    cpuPerRequest = (cpuMsOf(processTree(daemon.child.pid!)) + reapedCpuMs(daemon.child.pid!) - before) / goalRun.issued;
    // Start latency of the instances ready now (their own step timings).
    startMs = (await instances(daemon, 'bench-fresh')).map((i) => i.timings?.find((t) => t.step === 'total')?.ms).filter((x): x is number => typeof x === 'number');
    for (const rate of STEPS) {
      // Starts still on their way from the last run settle first.
      await sleep(1500);
      ctx.log(`fresh: step ${rate}/s`);
      const r = await openRun(daemon, 'bench-fresh', rate, rampMs, stepMs);
      steps.push(r);
      if (!r.sustained) break;
    }
  } finally {
    await daemon.stop();
  }
  const sustainable = Math.max(0, ...steps.filter((r) => r.sustained).map((r) => r.rate));
  const row = (mode: string, r: OpenRun) => [mode, fmt(r.rate, 0), r.n, ms(r.p50), ms(r.p99), ms(r.max), r.errors, r.refused, r.refused ? ms(r.refusedP99) : '—', ms(r.lagP99), r.sustained ? 'yes' : 'no'];
  const columns = ['isolation', 'rate (req/s)', 'requests', 'p50 (served)', 'p99 (served)', 'max (served)', 'errors', 'refused (429)', 'refused p99', 'generator lag p99', 'sustained'];
  const starts = summarize(startMs);
  const why = `Every fresh request cost ${fmt(cpuPerRequest, 1)} ms of CPU in the daemon and its instances (an instance start, mostly), and an instance start took ${ms(starts.median)} (p50 of ${starts.n} instances' own timings); the highest rate sustained in the step search was ${sustainable ? `${fmt(sustainable, 0)} requests/s` : 'below the lowest step'}.`;
  return {
    id: 'fresh',
    title: 'Fresh isolation',
    measures:
      'Latency, errors and refusals with one instance per request (isolation fresh) at a fixed arrival rate next to reuse isolation, and the highest rate the host sustains in fresh isolation.',
    workload: `GET / on the benchmark handler, open loop (requests due at a fixed rate over up to ${OPEN_CONNECTIONS} connections, latency from each request's scheduled start). ${GOAL_RATE} requests/s for ${goalMs / 1000} s after a ${rampMs / 1000} s ramp (discarded), first in reuse isolation, then in fresh isolation; then a step search in fresh isolation over ${STEPS.join(', ')} requests/s, ${stepMs / 1000} s each after a ${rampMs / 1000} s ramp, stopping at the first rate not sustained (p50 over every request ≤ ${GOAL_P50_MS} ms, no error, no 429). Both functions are deployed with the defaults besides isolation. Process driver.`,
    runs: `1 run per rate, on one daemon; percentiles over every request of a run after its ramp.`,
    tables: [{ title: `Open loop (${cores} cores)`, columns, rows: [row('reuse', reuseRun), row('fresh', goalRun), ...steps.map((r) => row('fresh (step)', r))] }],
    goals: [
      goal(`fresh isolation p50 at ${GOAL_RATE} requests/s (open loop)`, goalRun.p50, '<=', GOAL_P50_MS, 'ms', (m) => `At ${GOAL_RATE} requests/s the served requests' p50 was ${ms(m)} (p99 ${ms(goalRun.p99)}; ${goalRun.refused} refused, ${goalRun.errors} errors). ${why}`),
      goal(`fresh isolation errors and refusals at ${GOAL_RATE} requests/s (open loop)`, goalRun.errors + goalRun.refused, '<=', 0, ' requests', () => `${goalRun.errors} requests failed and ${goalRun.refused} were refused with 429 at ${GOAL_RATE} requests/s. ${why}`),
    ],
    notes: [
      `Sustainable fresh rate: ${sustainable ? `${fmt(sustainable, 0)} requests/s, ${fmt(sustainable / cores, 1)} per core` : `below the lowest step`} (the highest step with p50 ≤ ${GOAL_P50_MS} ms, no error and no 429; steps of ${STEPS.join(', ')} requests/s on a host shared with other work).`,
      `At ${GOAL_RATE} requests/s a fresh request cost ${fmt(cpuPerRequest, 1)} ms of CPU in the daemon and its instances; fresh p50 was ${ratio(goalRun.p50 / reuseRun.p50)} of reuse's. Instance start (step total): p50 ${ms(starts.median)}, max ${ms(starts.max)} over ${starts.n} instances.`,
    ],
    raw: { goal: goalRun, reuse: reuseRun, steps, sustainableRate: sustainable, sustainablePerCore: sustainable / cores, cores, cpuMsPerFreshRequest: cpuPerRequest, startMs },
  };
}
