/**
 * Benchmark 3, fresh isolation: one instance per request (destroyed after it).
 *
 * The goal's measurement is an open loop (requests due at a fixed rate, latency from when each
 * was due: lib/open-loop.ts) at 10 requests/s against a function deployed with `isolation: fresh`
 * and the defaults otherwise, then a short step search for the sustainable fresh rate: the highest
 * rate tried with p50 ≤ 100 ms, no error and no refusal. Refusals (429) are counted apart from
 * errors: past its capacity the pool is meant to refuse quickly rather than queue for seconds.
 * The same rate in reuse isolation is the reference. Each run also reports what explains it: the
 * CPU a fresh request cost (the daemon and every process it started, counted by a cgroup around
 * the daemon: lib/cpu-account.ts), the host's whole busy CPU meanwhile (other work included), and
 * the instances' starts from the daemon's own histograms (/metrics): how many there were, how long
 * they took, and how many adopted a spare sandbox rather than starting one cold.
 */
import os from 'node:os';
import { openLoop, type OpenSample } from './lib/open-loop.ts';
import { readFileSync } from 'node:fs';
import { cpuMsOf, processTree, reapedCpuMs } from './lib/procs.ts';
import { spawnAccounted } from './lib/cpu-account.ts';
import { bundleHello, deployCode, histogramDelta, histogramQuantile, metricsText, readHistogram, startDaemon, type HistogramReading } from './lib/servers.ts';
import { parseHostCpu } from '../../platform/functions/host-cpu.ts';
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
  /**
   * CPU per served request (ms) in the daemon and everything it started, over the whole run, ramp
   * included (a refused request costs little: a served one costs an instance start).
   */
  cpuMsPerRequest: number;
  /** The host's busy CPUs over the run (every process on it, not only the daemon's). */
  hostBusyCpus: number;
  /** Instance starts over the run (ramp included): count, mean and p50 bucket bound (ms). */
  starts: { n: number; meanMs: number; p50Ms: number };
  /** Starts that adopted a spare sandbox, and those that started one cold. */
  adopted: number;
  cold: number;
  /** Spare sandboxes started over the run, and their mean time to a ready agent (ms). */
  spareStarts: { n: number; meanMs: number };
}

/** What the run's figures are read from: the daemon's CPU counter and its /metrics. */
interface Probe {
  daemon: TestDaemon;
  /** CPU used so far by the daemon and all it started (ms). */
  cpuMs(): number;
}

interface Snapshot {
  cpuMs: number;
  host: { busy: number; total: number };
  metrics: string;
}

async function snapshot(p: Probe): Promise<Snapshot> {
  return { cpuMs: p.cpuMs(), host: parseHostCpu(readFileSync('/proc/stat', 'utf8')), metrics: await metricsText(p.daemon) };
}

function between(a: Snapshot, b: Snapshot, served: number, cores: number) {
  const h = (name: string, match: Record<string, string>) => histogramDelta(readHistogram(a.metrics, name, match), readHistogram(b.metrics, name, match));
  const mean = (r: HistogramReading) => (r.count ? (r.sum / r.count) * 1000 : Number.NaN);
  const total = h('ignition_restore_duration_seconds', { driver: 'process' });
  const spare = h('ignition_restore_step_seconds', { driver: 'process', flow: 'spare', step: 'agent-ready' });
  return {
    cpuMsPerRequest: (b.cpuMs - a.cpuMs) / Math.max(1, served),
    hostBusyCpus: ((b.host.busy - a.host.busy) / Math.max(1, b.host.total - a.host.total)) * cores,
    starts: { n: total.count, meanMs: mean(total), p50Ms: histogramQuantile(total, 0.5) * 1000 },
    adopted: h('ignition_restore_step_seconds', { driver: 'process', flow: 'restore', step: 'spare' }).count,
    cold: h('ignition_restore_step_seconds', { driver: 'process', flow: 'restore', step: 'spawn' }).count,
    spareStarts: { n: spare.count, meanMs: mean(spare) },
  };
}

/** One open-loop run of `measureMs` at `rate` after a ramp of `rampMs` (its requests discarded). */
async function openRun(probe: Probe, fn: string, rate: number, rampMs: number, measureMs: number): Promise<OpenRun> {
  const cores = os.cpus().length;
  const before = await snapshot(probe);
  const t0 = performance.now();
  const res = await openLoop(probe.daemon.url, `/fn/${fn}/`, { rate, connections: OPEN_CONNECTIONS, rampMs, until: () => performance.now() - t0 > rampMs + measureMs });
  const kept = res.samples.filter((x: OpenSample) => x.at - t0 >= rampMs);
  const ok = summarize(kept.filter((x) => x.ok).map((x) => x.ms));
  const all = summarize(kept.map((x) => x.ms));
  const refusedSamples = kept.filter((x) => x.failure === '429');
  const errors = kept.filter((x) => !x.ok && x.failure !== '429').length;
  // The p50 is over every request (a refused one is quick but not served: a rate whose requests
  // are partly refused is not sustained, whatever its p50).
  const sustained = errors === 0 && refusedSamples.length === 0 && all.median <= GOAL_P50_MS;
  const after = await snapshot(probe);
  return {
    ...between(before, after, res.samples.filter((x) => x.ok).length, cores),
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
  // the same code in reuse isolation for reference. The daemon starts in a cgroup of its own, so
  // that every process it starts is counted, whoever reaps it (lib/cpu-account.ts).
  const { child: started, account } = spawnAccounted(() => startDaemon());
  const daemon = await started;
  // Without the cgroup: the daemon's live process tree and what it reaped, a lower bound.
  const treeMs = () => {
    const tree = processTree(daemon.child.pid!);
    return cpuMsOf(tree) + tree.reduce((a, p) => a + reapedCpuMs(p), 0);
  };
  const probe: Probe = { daemon, cpuMs: account ? () => account.cpuMs() : treeMs };
  const cpuSource = account
    ? 'a cgroup around the daemon, which counts every process it started, whoever reaped it'
    : "the daemon's process tree and the children its processes reaped, a lower bound that misses sandboxes reaped outside the tree";
  let goalRun: OpenRun;
  let reuseRun: OpenRun;
  const steps: OpenRun[] = [];
  try {
    await deployCode(daemon, 'bench-reuse', bundle.code, bundle.map, {});
    await deployCode(daemon, 'bench-fresh', `${bundle.code}\n// fresh\n`, bundle.map, { isolation: 'fresh' });
    ctx.log(`fresh: reuse at ${GOAL_RATE}/s`);
    reuseRun = await openRun(probe, 'bench-reuse', GOAL_RATE, rampMs, goalMs);
    ctx.log(`fresh: fresh at ${GOAL_RATE}/s`);
    goalRun = await openRun(probe, 'bench-fresh', GOAL_RATE, rampMs, goalMs);
    for (const rate of STEPS) {
      // Starts still on their way from the last run settle first.
      await sleep(1500);
      ctx.log(`fresh: step ${rate}/s`);
      const r = await openRun(probe, 'bench-fresh', rate, rampMs, stepMs);
      steps.push(r);
      if (!r.sustained) break;
    }
  } finally {
    await daemon.stop();
    await account?.close();
  }
  const sustainable = Math.max(0, ...steps.filter((r) => r.sustained).map((r) => r.rate));
  const row = (mode: string, r: OpenRun) => [
    mode,
    fmt(r.rate, 0),
    r.n,
    ms(r.p50),
    ms(r.p99),
    ms(r.max),
    r.errors,
    r.refused,
    r.refused ? ms(r.refusedP99) : '—',
    ms(r.lagP99),
    r.sustained ? 'yes' : 'no',
    ms(r.cpuMsPerRequest),
    fmt(r.hostBusyCpus, 2),
    r.starts.n ? `${r.starts.n}: ${r.adopted} adopted, ${r.cold} cold; mean ${ms(r.starts.meanMs)}` : '—',
    r.spareStarts.n ? `${r.spareStarts.n}, mean ${ms(r.spareStarts.meanMs)}` : '—',
  ];
  const columns = [
    'isolation',
    'rate (req/s)',
    'requests',
    'p50 (served)',
    'p99 (served)',
    'max (served)',
    'errors',
    'refused (429)',
    'refused p99',
    'generator lag p99',
    'sustained',
    'CPU per served request',
    'host busy CPUs',
    'instance starts',
    'spares started (to agent ready)',
  ];
  // The CPU-bound ceiling: the host's cores divided by what one fresh request costs.
  const ceiling = (cores * 1000) / goalRun.cpuMsPerRequest;
  const why = `Every fresh request served cost ${ms(goalRun.cpuMsPerRequest)} of CPU in the daemon and everything it started (${cpuSource}), so ${cores} cores serve at most ${fmt(ceiling, 1)} fresh requests/s with nothing else running; the host was ${fmt(goalRun.hostBusyCpus, 2)} CPUs busy over the run, other work included. ${goalRun.starts.n} instances started (${goalRun.adopted} adopting a spare sandbox, ${goalRun.cold} cold), in ${ms(goalRun.starts.meanMs)} on average (restore to a ready agent, the daemon's histogram). The highest rate sustained in the step search was ${sustainable ? `${fmt(sustainable, 0)} requests/s` : 'below the lowest step'}.`;
  return {
    id: 'fresh',
    title: 'Fresh isolation',
    measures:
      'Latency, errors and refusals with one instance per request (isolation fresh) at a fixed arrival rate next to reuse isolation, the highest rate the host sustains in fresh isolation, and the CPU and instance starts each rate cost.',
    workload: `GET / on the benchmark handler, open loop (requests due at a fixed rate over up to ${OPEN_CONNECTIONS} connections, latency from each request's scheduled start). ${GOAL_RATE} requests/s for ${goalMs / 1000} s after a ${rampMs / 1000} s ramp (discarded), first in reuse isolation, then in fresh isolation; then a step search in fresh isolation over ${STEPS.join(', ')} requests/s, ${stepMs / 1000} s each after a ${rampMs / 1000} s ramp, stopping at the first rate not sustained (p50 over every request ≤ ${GOAL_P50_MS} ms, no error, no 429). Both functions are deployed with the defaults besides isolation. Process driver. CPU per request: ${cpuSource}, over the whole run (ramp included) divided by the requests served. Instance starts and spare starts: the daemon's own histograms (ignition_restore_duration_seconds, ignition_restore_step_seconds) over the whole run.`,
    runs: `1 run per rate, on one daemon; percentiles over every request of a run after its ramp.`,
    tables: [{ title: `Open loop (${cores} cores)`, columns, rows: [row('reuse', reuseRun), row('fresh', goalRun), ...steps.map((r) => row('fresh (step)', r))] }],
    goals: [
      goal(`fresh isolation p50 at ${GOAL_RATE} requests/s (open loop)`, goalRun.p50, '<=', GOAL_P50_MS, 'ms', (m) => `At ${GOAL_RATE} requests/s the served requests' p50 was ${ms(m)} (p99 ${ms(goalRun.p99)}; ${goalRun.refused} refused, ${goalRun.errors} errors). ${why}`),
      goal(`fresh isolation errors and refusals at ${GOAL_RATE} requests/s (open loop)`, goalRun.errors + goalRun.refused, '<=', 0, ' requests', () => `${goalRun.errors} requests failed and ${goalRun.refused} were refused with 429 at ${GOAL_RATE} requests/s. ${why}`),
    ],
    notes: [
      `Sustainable fresh rate: ${sustainable ? `${fmt(sustainable, 0)} requests/s, ${fmt(sustainable / cores, 1)} per core` : `below the lowest step`} (the highest step with p50 ≤ ${GOAL_P50_MS} ms, no error and no 429; steps of ${STEPS.join(', ')} requests/s on a host shared with other work).`,
      `At ${GOAL_RATE} requests/s a served fresh request cost ${ms(goalRun.cpuMsPerRequest)} of CPU (${cpuSource}): a ceiling of ${fmt(ceiling / cores, 1)} fresh requests/s per core on an otherwise idle host. Fresh p50 was ${ratio(goalRun.p50 / reuseRun.p50)} of reuse's.`,
    ],
    raw: { goal: goalRun, reuse: reuseRun, steps, sustainableRate: sustainable, sustainablePerCore: sustainable / cores, cores, cpuMsPerFreshRequest: goalRun.cpuMsPerRequest, cpuSource: account ? 'cgroup' : 'process-tree' },
  };
}
