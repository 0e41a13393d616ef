/**
 * Benchmark: the platform's operations under traffic (issue 7's measures).
 *  - Deploy under steady load: a closed loop runs while a new version is deployed; requests that
 *    failed, and p99 before versus during the deploy (goal: none failed, p99 unchanged).
 *  - Scale from zero: a function with minWarm 0 and a short idle timeout scales to zero; the time
 *    to the first response after that (a cold start through the pool).
 *  - Queueing at the maximum: one instance, concurrency 1, a queue of 4; a burst of 12 slow requests
 *    shows how many are served, how many are refused with 429, and the latency of the queued ones.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Pool, request } from 'undici';
import { availableParallelism } from 'node:os';
import { openLoop } from './lib/open-loop.ts';
import { cpuMsOf } from './lib/procs.ts';
import { deepChildPids } from '../../platform/vmm/process/procfs.ts';
import { bundleHello, deployCode, fnTarget, instances, sparesReady, startDaemon, type Api } from './lib/servers.ts';
import { fmt, median, ms, ratio, sleep, summarize, type Summary } from './lib/stats.ts';
import { goal, type BenchContext, type BenchResult, type Goal } from './lib/types.ts';
import { bundleFunction } from '../../platform/functions/bundle.ts';
import { parseHostCpu } from '../../platform/functions/host-cpu.ts';
import { FIXTURES as TEST_FIXTURES } from '../../test/support/daemon.ts';
import nodePath from 'node:path';

/** One request as the windows see it: when it started (or was due), its latency, its outcome. */
interface Sample {
  at: number;
  ms: number;
  ok: boolean;
  /** Open loop only: how late the generator sent it. */
  lagMs?: number;
  /** Why it failed (HTTP status or client error code). */
  failure?: string;
}

async function closedLoop(origin: string, path: string, connections: number, until: () => boolean): Promise<Sample[]> {
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const samples: Sample[] = [];
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (!until()) {
          const t = performance.now();
          let failure: string | undefined;
          try {
            const res = await pool.request({ method: 'GET', path });
            await res.body.dump();
            if (res.statusCode !== 200) failure = String(res.statusCode);
          } catch (err) {
            failure = (err as { code?: string }).code ?? 'error';
          }
          samples.push({ at: t, ms: performance.now() - t, ok: failure === undefined, ...(failure === undefined ? {} : { failure }) });
        }
      }),
    );
  } finally {
    await pool.destroy();
  }
  return samples;
}

/** The traffic a deploy runs under: a closed loop of N connections, or an open loop at a rate. */
export type Load = { kind: 'closed'; connections: number } | { kind: 'open'; rate: number; connections: number };

/** Busy and total CPU time of the whole host so far (clock ticks, /proc/stat), or null off Linux. */
function hostCpu(): { at: number; busy: number; total: number } | null {
  try {
    return { at: performance.now(), ...parseHostCpu(readFileSync('/proc/stat', 'utf8')) };
  } catch {
    return null;
  }
}

/** The share of the host's CPU that was busy between two hostCpu() readings. */
function busyShare(a: ReturnType<typeof hostCpu>, b: ReturnType<typeof hostCpu>): number | null {
  return a && b && b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : null;
}

/**
 * Host CPU read every 100 ms for the whole section, so the busy share of any window (the build,
 * the shift, the second after) can be read afterwards, to the nearest reading.
 */
class CpuRecorder {
  private readonly readings: Array<NonNullable<ReturnType<typeof hostCpu>>> = [];
  private readonly timer: NodeJS.Timeout;
  constructor() {
    const read = () => {
      const r = hostCpu();
      if (r) this.readings.push(r);
    };
    read();
    this.timer = setInterval(read, 100);
  }
  stop() {
    clearInterval(this.timer);
  }
  /** The busy share of the host's CPU between `from` and `to`, or null off Linux. */
  busy(from: number, to: number): number | null {
    const near = (t: number) => this.readings.reduce<(typeof this.readings)[number] | undefined>((best, r) => (!best || Math.abs(r.at - t) < Math.abs(best.at - t) ? r : best), undefined);
    return busyShare(near(from) ?? null, near(to) ?? null);
  }
}

interface Window {
  from: number;
  to: number;
}

/** A window's latencies, and for the open loop how late the generator was in it. */
export interface WindowFigures extends Summary {
  busy: number | null;
  /** Open loop: p99 of the generator's lag (sent minus scheduled) of the window's requests. */
  lagP99: number | null;
}

export interface DeployUnderLoad {
  load: Load;
  deploys: number;
  baselineMs: number;
  afterMs: number;
  requests: number;
  failed: number;
  /** Failed requests by HTTP status or client error code. */
  failures: Record<string, number>;
  /** Requests started (or due) per second in the baselines. */
  rateBefore: number;
  /** Open loop: requests issued while every connection was busy, and the most in flight. */
  waitedForConnection: number | null;
  maxInFlight: number | null;
  before: WindowFigures;
  /** The whole deploy: from the request to the answer. */
  during: WindowFigures;
  /** Its first part: the build machine, the warm-up, until traffic starts to move. */
  build: WindowFigures;
  /** Its last part: traffic moving to the new version (slow start), until the answer. */
  shift: WindowFigures;
  after: WindowFigures;
  /** Per deploy: its wall time, how long its traffic shift took, p99 and host CPU before and during. */
  each: Array<{ ms: number; shiftMs: number; afterMs: number; p99Before: number; p99During: number; p99After: number; busyBefore: number | null; busyDuring: number | null; instancesBefore: number; instances: number }>;
  /** Deploys after which the daemon's spare sandbox was not back within the wait. */
  sparesLate: number;
}

/**
 * Deploys a new version of `name` `deploys` times under `load`, each deploy preceded by a baseline
 * window of `baselineMs` and followed by `afterMs`. Windows are by the time a request started (for
 * the open loop, the time it was due): "before" is the baseline just ahead of each deploy;
 * "during" runs from the deploy request to its answer and is split where traffic starts to move
 * to the new version (the daemon's `slow-start` timing, counted back from the answer) into
 * "build" and "shift"; "after" is the `afterMs` that follow the answer (the old version drains).
 * Pooling the windows of several deploys gives each percentile thousands of samples.
 */
export async function deployUnderLoad(
  daemon: Api,
  name: string,
  bundle: { code: string; map: string },
  opts: { deploys: number; baselineMs: number; afterMs: number; warmupMs: number; load: Load; deployFirst: boolean },
): Promise<DeployUnderLoad> {
  if (opts.deployFirst) await deployCode(daemon, name, bundle.code, bundle.map, { minWarm: 1 });
  const target = fnTarget(daemon.url, name);
  let stop = false;
  const until = () => stop;
  const load = opts.load;
  const running =
    load.kind === 'closed'
      ? closedLoop(target.origin, target.path, load.connections, until).then((samples) => ({ samples, waitedForConnection: null, maxInFlight: null }))
      : openLoop(target.origin, target.path, { rate: load.rate, connections: load.connections, rampMs: opts.warmupMs, until });
  const cpu = new CpuRecorder();
  const before: Window[] = [];
  const during: Window[] = [];
  const build: Window[] = [];
  const shift: Window[] = [];
  const after: Window[] = [];
  const instanceCounts: number[] = [];
  const instancesBefore: number[] = [];
  let sparesLate = 0;
  const nonce = randomUUID();
  try {
    // The first seconds of traffic count in no window: a fresh instance's JIT is cold for its
    // first few thousand requests (several times the CPU per request), which would inflate the
    // first baseline's p99 and flatter every ratio. (The open loop ramps up over them.)
    await sleep(opts.warmupMs);
    // Every baseline starts from the steady state: the daemon's spare sandbox ready.
    if (!(await sparesReady(daemon))) sparesLate++;
    for (let i = 0; i < opts.deploys; i++) {
      const b0 = performance.now();
      await sleep(opts.baselineMs);
      const d0 = performance.now();
      before.push({ from: b0, to: d0 });
      instancesBefore.push((await instances(daemon, name)).length);
      // New content every time (a nonce), so each deploy builds a new version.
      const answer = await deployCode(daemon, name, `${bundle.code}\n// deploy ${i + 1} ${nonce}\n`, bundle.map, { minWarm: 1 });
      const d1 = performance.now();
      const shiftMs = answer.timings?.find((t) => t.step === 'slow-start')?.ms ?? 0;
      const switchAt = Math.max(d0, d1 - shiftMs);
      during.push({ from: d0, to: d1 });
      build.push({ from: d0, to: switchAt });
      shift.push({ from: switchAt, to: d1 });
      await sleep(opts.afterMs);
      // The deploy adopted the spare sandbox and its replacement starts once the deploy is done:
      // "after" runs until it is back (at least afterMs), so what the replacement's start does
      // to the traffic is counted here, not in the next baseline.
      if (!(await sparesReady(daemon))) sparesLate++;
      after.push({ from: d1, to: performance.now() });
      instanceCounts.push((await instances(daemon, name)).length);
    }
  } finally {
    stop = true;
  }
  const { samples, waitedForConnection, maxInFlight } = await running;
  cpu.stop();
  const inWindows = (ws: Window[]) => samples.filter((s) => ws.some((w) => s.at >= w.from && s.at < w.to));
  const okMs = (ws: Window[]) => inWindows(ws).filter((s) => s.ok).map((s) => s.ms);
  const length = (ws: Window[]) => ws.reduce((n, w) => n + w.to - w.from, 0);
  const meanBusy = (ws: Window[]) => {
    const each = ws.map((w) => cpu.busy(w.from, w.to));
    return each.every((b) => b !== null) && ws.length ? ws.reduce((n, w, i) => n + each[i]! * (w.to - w.from), 0) / length(ws) : null;
  };
  const figures = (ws: Window[]): WindowFigures => {
    const lags = inWindows(ws).flatMap((s) => (s.lagMs === undefined ? [] : [s.lagMs]));
    return { ...summarize(okMs(ws)), busy: meanBusy(ws), lagP99: lags.length ? summarize(lags).p99 : null };
  };
  return {
    load,
    deploys: opts.deploys,
    baselineMs: opts.baselineMs,
    afterMs: opts.afterMs,
    requests: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    failures: samples.reduce<Record<string, number>>((n, s) => (s.failure ? { ...n, [s.failure]: (n[s.failure] ?? 0) + 1 } : n), {}),
    rateBefore: inWindows(before).length / (length(before) / 1000),
    waitedForConnection,
    maxInFlight,
    before: figures(before),
    during: figures(during),
    build: figures(build),
    shift: figures(shift),
    after: figures(after),
    sparesLate,
    each: during.map((w, i) => ({
      ms: w.to - w.from,
      shiftMs: shift[i].to - shift[i].from,
      afterMs: after[i].to - after[i].from,
      p99Before: summarize(okMs([before[i]])).p99,
      p99During: summarize(okMs([w])).p99,
      p99After: summarize(okMs([after[i]])).p99,
      busyBefore: cpu.busy(before[i].from, before[i].to),
      busyDuring: cpu.busy(w.from, w.to),
      instancesBefore: instancesBefore[i],
      instances: instanceCounts[i],
    })),
  };
}

/**
 * The open loop's own CPU (generator, daemon, instances) aims at this share of the host: a steady
 * load with headroom. On the 2-vCPU host that leaves about one vCPU spare, about what a deploy on
 * the process driver needs (one Node process starting, then a cold JIT).
 */
export const OPEN_TARGET_SHARE = 0.5;
/** Never more than this share of the closed loop's rate (the host's capacity at saturation). */
export const OPEN_MAX_SHARE = 0.5;
/** The calibration probe's rate, as a share of the closed loop's. */
export const PROBE_SHARE = 0.15;
/** Connections of the open loop: far more than it keeps in flight (about rate × latency, a few). */
export const OPEN_CONNECTIONS = 128;

/** CPU time (ms) used so far by this process and by the daemon with every process under it. */
function loadCpuMs(daemonPid: number): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1000 + cpuMsOf([daemonPid, ...deepChildPids(daemonPid)]);
}

/**
 * The open loop's rate. The closed loop's rate is not a usable capacity for it: back-to-back
 * requests on 8 connections are handled in batches (one wake-up of the daemon and the instance
 * serves several), whereas requests arriving one by one each pay the wake-ups, and an open loop at
 * half the closed loop's rate ran the host at 93% busy with a p50 of a second. So a probe (an open
 * loop at PROBE_SHARE of the closed loop's rate) measures the CPU per request of independent
 * arrivals two ways, and the larger is used: the CPU of the processes that send and serve them
 * (which misses the kernel's loopback networking, charged to no process), and the host's busy
 * time during the probe minus a quiet second just before it (which other work on the shared host
 * moves). The rate is the one whose CPU is OPEN_TARGET_SHARE of the host's, capped at
 * OPEN_MAX_SHARE of the closed loop's rate.
 */
async function calibrate(daemon: Api, daemonPid: number, name: string, capacity: number, ms: number) {
  const probe = Math.max(20, Math.round(capacity * PROBE_SHARE));
  const target = fnTarget(daemon.url, name);
  const cores = availableParallelism();
  const q0 = hostCpu();
  await sleep(1000);
  const quiet = busyShare(q0, hostCpu());
  // The first second (the ramp) is left out.
  const settle = 1000;
  const first: { cpuMs: number; at: number; host: ReturnType<typeof hostCpu> } = { cpuMs: 0, at: 0, host: null };
  const t0 = performance.now();
  const timer = setTimeout(() => Object.assign(first, { cpuMs: loadCpuMs(daemonPid), at: performance.now(), host: hostCpu() }), settle);
  const run = await openLoop(target.origin, target.path, { rate: probe, connections: OPEN_CONNECTIONS, rampMs: settle, until: () => performance.now() - t0 > ms });
  clearTimeout(timer);
  const seconds = (performance.now() - first.at) / 1000;
  const processMs = loadCpuMs(daemonPid) - first.cpuMs;
  const busy = busyShare(first.host, hostCpu());
  const counted = run.samples.filter((s) => s.at >= first.at);
  const n = counted.length || Number.NaN;
  const perRequest = {
    processes: processMs / n,
    host: busy !== null && quiet !== null ? ((busy - quiet) * cores * seconds * 1000) / n : Number.NaN,
  };
  const perRequestMs = Math.max(perRequest.processes, Number.isFinite(perRequest.host) ? perRequest.host : 0);
  const fit = (OPEN_TARGET_SHARE * cores * 1000) / perRequestMs;
  const rate = Math.max(20, Math.round(Math.min(capacity * OPEN_MAX_SHARE, Number.isFinite(fit) ? fit : capacity * PROBE_SHARE)));
  return { probe, perRequest, perRequestMs, quiet, busy, cores, rate, probeP99: summarize(counted.map((s) => s.ms)).p99 };
}

/**
 * A ratio to the baselines judges a deploy only if the load stayed steady. When the open loop fell
 * behind for long (more requests in flight than connections: the host could not keep up with the
 * rate, because of the deploys or of other work) or the function grew more instances, the later
 * baselines are overloaded too and a ratio near or below 1 would flatter the deploy; the goal is
 * then reported missed, with why. A single stall of the shared host (100 ms at 1,500 requests/s
 * puts 150 in flight) is not that: up to one request in a thousand may wait for a connection.
 */
function unsteady(g: Goal, d: DeployUnderLoad): Goal {
  if (!d.waitedForConnection || g.measured === null) return g;
  const most = Math.max(...d.each.map((e) => Math.max(e.instances, e.instancesBefore)));
  const first = d.each[0]?.instancesBefore ?? most;
  if (d.waitedForConnection <= d.requests / 1000 && most <= first) return g;
  return {
    ...g,
    met: false,
    why: `The load did not stay steady: ${d.waitedForConnection} requests found all ${OPEN_CONNECTIONS} connections busy (up to ${d.maxInFlight} in flight), and p99 before the deploys was ${ms(d.before.p99)}${most > first ? `; the function grew from ${first} instance(s) to ${most}` : ''}, so the ratio (${ratio(g.measured)}) does not measure the deploys alone.${g.why ? ` ${g.why}` : ''}`,
  };
}

export async function runOperations(ctx: BenchContext): Promise<BenchResult> {
  const bundle = await bundleHello();
  const daemon = await startDaemon();
  try {
    // 1. Deploy under load. First at saturation (a closed loop), which also measures the host's
    // capacity in this run; then at a steady rate with headroom (an open loop), which the goals judge.
    const deploys = ctx.quick ? 2 : 8;
    // As long as a deploy under traffic (its 4 s traffic shift): each deploy is judged against the
    // baseline just before it, and the two windows see the host's own stalls for as long.
    const baselineMs = ctx.quick ? 1000 : 4000;
    const closed = await deployUnderLoad(daemon, 'ops-deploy', bundle, {
      deployFirst: true,
      deploys: ctx.quick ? 1 : 4,
      baselineMs,
      afterMs: 1000,
      warmupMs: 3000,
      load: { kind: 'closed', connections: 8 },
    });
    const capacity = closed.rateBefore;
    ctx.log(`operations: closed loop: ${closed.deploys} deploys, ${Math.round(capacity)} requests/s before them, ${closed.failed} failed`);
    const cal = await calibrate(daemon, daemon.child.pid!, 'ops-deploy', capacity, ctx.quick ? 2500 : 4000);
    const rate = cal.rate;
    ctx.log(`operations: probe at ${cal.probe}/s cost ${Math.round(cal.perRequest.processes * 1000)} µs (processes) / ${Math.round(cal.perRequest.host * 1000)} µs (host) of CPU per request: open loop at ${rate}/s`);
    // The same function, so the open loop starts on an instance the closed loop has warmed.
    const dep = await deployUnderLoad(daemon, 'ops-deploy', bundle, {
      deployFirst: false,
      deploys,
      baselineMs,
      afterMs: 1000,
      warmupMs: 3000,
      load: { kind: 'open', rate, connections: OPEN_CONNECTIONS },
    });
    const { before, during, build, shift, after, failed } = dep;
    ctx.log(`operations: open loop at ${rate}/s: ${dep.deploys} deploys, ${dep.requests} requests, ${failed} failed, ${dep.waitedForConnection} waited for a connection`);

    // 2. Scale from zero.
    await deployCode(daemon, 'ops-zero', `${bundle.code}\n// zero\n`, bundle.map, { minWarm: 0, idleTimeoutMs: 300 });
    const zeroRuns = ctx.quick ? 3 : 8;
    const fromZero: number[] = [];
    for (let i = 0; i < zeroRuns; i++) {
      for (let k = 0; k < 200 && (await instances(daemon, 'ops-zero')).length > 0; k++) await sleep(100);
      const t = performance.now();
      const res = await request(`${daemon.url}/fn/ops-zero/`);
      await res.body.dump();
      fromZero.push(performance.now() - t);
    }
    const zero = summarize(fromZero);

    // 3. Queueing at the maximum.
    const slow = await bundleFunction(nodePath.join(TEST_FIXTURES, 'slow'));
    await deployCode(daemon, 'ops-queue', slow.code, slow.map, { minWarm: 1, maxInstances: 1, concurrency: 1, queueSize: 4 });
    const burst = 12;
    const results = await Promise.all(
      Array.from({ length: burst }, async () => {
        const t = performance.now();
        const res = await request(`${daemon.url}/fn/ops-queue/?ms=200`);
        await res.body.dump();
        return { status: res.statusCode, ms: performance.now() - t, retryAfter: res.headers['retry-after'] };
      }),
    );
    const served = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    const servedLat = summarize(served.map((r) => r.ms));

    const pooledDuring = before.n && during.n ? during.p99 / before.p99 : null;
    const pooledAfter = before.n && after.n ? after.p99 / before.p99 : null;
    const pct = (x: number | null) => (x === null ? 'n/a' : `${Math.round(x * 100)}%`);
    const vsOf = (d: DeployUnderLoad) => (x: Summary) => (d.before.n && x.n ? ratio(x.p99 / d.before.p99) : 'n/a');
    const vs = vsOf(dep);
    const eachRatio = dep.each.map((e) => e.p99During / e.p99Before);
    const eachAfter = dep.each.map((e) => e.p99After / e.p99Before);
    // The goals: each deploy against the baseline just before it, the median over the deploys. On
    // the shared host single stalls of 50-230 ms land in baselines and deploys alike, a few per run,
    // and one decides the pooled p99 of a whole run either way (pooled ratios of 0.28x to 4.5x on
    // the same code); the median of eight deploys stands up to three such windows.
    const p99Ratio = eachRatio.length ? median(eachRatio) : null;
    const afterRatio = eachAfter.length ? median(eachAfter) : null;
    const windows = (d: DeployUnderLoad) => {
      const v = vsOf(d);
      const lag = (w: WindowFigures) => (d.load.kind === 'open' ? [ms(w.lagP99)] : []);
      return [
        ['before', d.before.n, ms(d.before.median), ms(d.before.p99), '1.00×', pct(d.before.busy), ...lag(d.before)],
        ['during (whole deploy)', d.during.n, ms(d.during.median), ms(d.during.p99), v(d.during), pct(d.during.busy), ...lag(d.during)],
        ['· build and warm-up', d.build.n, ms(d.build.median), ms(d.build.p99), v(d.build), pct(d.build.busy), ...lag(d.build)],
        ['· traffic shift', d.shift.n, ms(d.shift.median), ms(d.shift.p99), v(d.shift), pct(d.shift.busy), ...lag(d.shift)],
        [`after (≥ ${d.afterMs / 1000} s, until the spare is back)`, d.after.n, ms(d.after.median), ms(d.after.p99), v(d.after), pct(d.after.busy), ...lag(d.after)],
      ];
    };
    return {
      id: 'operations',
      title: 'Operations under traffic',
      measures: 'Requests failed or delayed while a new version is deployed under steady load (and, for information, at saturation); time to first response when scaling from zero; behaviour of the bounded queue at the maximum number of instances.',
      workload: `Deploy: GET / on the benchmark handler. First a closed loop of ${closed.load.connections} connections (saturation) with ${closed.deploys} deploys, whose rate in its baselines is the host's capacity in this run (${fmt(capacity, 0)} requests/s). Then a ${cal.probe} requests/s open-loop probe (${fmt(PROBE_SHARE * 100, 0)}% of that) measures the CPU a request arriving on its own costs (the larger of its processes' CPU and the host's busy time above a quiet second), and the steady load is an open loop at the rate whose CPU is ${fmt(OPEN_TARGET_SHARE * 100, 0)}% of the host's ${cal.cores} CPUs, at most ${fmt(OPEN_MAX_SHARE * 100, 0)}% of capacity: ${rate} requests/s (${pct(rate / capacity)} of capacity), issued on schedule over up to ${OPEN_CONNECTIONS} connections, each request's latency taken from its scheduled start, with ${dep.deploys} deploys. Each loop's first 3 s are discarded (the instance's JIT warms; the open loop ramps its rate up over them); each deploy (a new version, minWarm 1) follows a ${dep.baselineMs / 1000} s baseline, which starts once the daemon's spare sandbox is ready (the steady state), and is followed by at least ${dep.afterMs / 1000} s, until the spare the deploy adopted has been replaced. A request counts in the window in which it started (open loop: was due): before (the baseline just ahead of each deploy), during (from the deploy request to its answer), split into build and warm-up (until traffic starts to move) and traffic shift (the daemon's slow start, from its own timing), and after (from the answer until the replacement spare is ready, at least ${dep.afterMs / 1000} s: the old version drains, the replacement's sandbox starts). The goals take, per deploy, p99 during (and after) it against p99 in the baseline just before it, and the median over the deploys; the windows of all deploys of a loop are also pooled; host CPU is read every 100 ms. Scale from zero: minWarm 0, idleTimeoutMs 300, waiting until no instance is left before each request. Queue: the slow fixture (200 ms), maxInstances 1, concurrency 1, queueSize 4, ${burst} simultaneous requests. Process driver.`,
      runs: `Deploy: ${closed.deploys} deploys at saturation, then ${dep.deploys} at a steady rate (every request counted). Scale from zero: ${zeroRuns} runs. Queue: 1 burst.`,
      tables: [
        {
          title: `Deploy under steady load (open loop, ${rate} requests/s: ${pct(rate / capacity)} of capacity)`,
          columns: ['window', 'requests', 'p50', 'p99', 'p99 vs before', 'host CPU busy', 'generator lag p99'],
          rows: windows(dep),
        },
        {
          title: 'Each deploy (open loop)',
          columns: ['deploy', 'took', 'of which traffic shift', 'after (until the spare is back)', 'p99 before', 'p99 during', 'ratio', 'p99 after', 'ratio', 'host CPU busy before', 'during', 'instances before', 'after'],
          rows: dep.each.map((e, i) => [i + 1, ms(e.ms), ms(e.shiftMs), ms(e.afterMs), ms(e.p99Before), ms(e.p99During), ratio(eachRatio[i]), ms(e.p99After), ratio(eachAfter[i]), pct(e.busyBefore), pct(e.busyDuring), e.instancesBefore, e.instances]),
        },
        {
          title: `Deploy at saturation (closed loop, ${closed.load.connections} connections; information)`,
          columns: ['window', 'requests', 'p50', 'p99', 'p99 vs before', 'host CPU busy'],
          rows: windows(closed),
        },
        { title: 'Scale from zero', columns: ['runs', 'p50', 'p99', 'min'], rows: [[zero.n, ms(zero.median), ms(zero.p99), ms(zero.min)]] },
        {
          title: 'Queueing at the maximum',
          columns: ['requests', 'served', 'refused (429)', 'Retry-After', 'served p50', 'served max'],
          rows: [[burst, served.length, refused.length, refused[0]?.retryAfter?.toString() ?? '-', ms(servedLat.median), ms(servedLat.max)]],
        },
      ],
      goals: [
        goal('requests failed during a deploy under steady load', failed, '<=', 0, 'requests', (m) => `${fmt(m, 0)} of ${dep.requests} requests failed over ${dep.deploys} deploys at ${rate} requests/s (${Object.entries(dep.failures).map(([k, v]) => `${v} × ${k}`).join(', ')}; host ${pct(during.busy)} busy during the deploys, p99 before them ${ms(before.p99)}).`),
        ...[
          goal('p99 during a deploy vs before (steady load)', p99Ratio, '<=', 1.5, '×', (m) =>
            `Per deploy, p99 during it against p99 in the ${dep.baselineMs / 1000} s just before it, the median over ${dep.deploys} deploys, was ${ratio(m)} at ${rate} requests/s (from ${ratio(Math.min(...eachRatio))} to ${ratio(Math.max(...eachRatio))}); pooled over all deploys ${pooledDuring === null ? 'n/a' : ratio(pooledDuring)} (${ms(during.p99)} against ${ms(before.p99)}), the build and warm-up at ${vs(build)} (host ${pct(build.busy)} busy), the traffic shift at ${vs(shift)} (host ${pct(shift.busy)} busy); p50 ${ms(during.median)} during against ${ms(before.median)} before; the generator's lag p99 was ${ms(during.lagP99)} during against ${ms(before.lagP99)} before.`,
            { basis: 'median per deploy', also: { pooled: pooledDuring } },
          ),
          goal('p99 after a deploy vs before (steady load)', afterRatio, '<=', 1.5, '×', (m) => `Per deploy, p99 after it answered (until the replacement spare was ready, ${ms(median(dep.each.map((e) => e.afterMs)))} median; at least ${dep.afterMs / 1000} s) against its baseline, the median over the deploys, was ${ratio(m)} (from ${ratio(Math.min(...eachAfter))} to ${ratio(Math.max(...eachAfter))}; pooled ${pooledAfter === null ? 'n/a' : ratio(pooledAfter)}, host ${pct(after.busy)} busy): the old version drains and the replacement spare starts.${dep.sparesLate ? ` ${dep.sparesLate} time(s) the spare was not back within 20 s.` : ''}`, { basis: 'median per deploy', also: { pooled: pooledAfter } }),
        ].map((g) => unsteady(g, dep)),
      ],
      notes: [
        `The goals judge the open loop, because a steady load in production arrives at a rate with headroom, whereas a closed loop keeps the host saturated (${pct(closed.before.busy)} busy before its deploys), where any CPU a deploy takes, at whatever priority, queues requests; at saturation p99 during its deploys was ${vsOf(closed)(closed.during)} of before (build and warm-up ${vsOf(closed)(closed.build)}, traffic shift ${vsOf(closed)(closed.shift)}, the second after ${vsOf(closed)(closed.after)}), ${closed.failed} of ${closed.requests} requests failed.`,
        `Rate: the closed loop's ${fmt(capacity, 0)} requests/s come from batching (back-to-back requests share the daemon's and the instance's wake-ups); requests of the probe (${cal.probe}/s) arriving one by one cost ${fmt(cal.perRequest.processes * 1000, 0)} µs of CPU each in the generator, the daemon and the instance, and ${fmt(cal.perRequest.host * 1000, 0)} µs of host CPU (${pct(cal.busy)} busy during the probe against ${pct(cal.quiet)} just before it; p99 ${ms(cal.probeP99)}), so ${rate} requests/s is about ${pct(rate * cal.perRequestMs / 1000 / cal.cores)} of the host; the host, shared with other work, was ${pct(before.busy)} busy in the baselines.`,
        `Open loop: ${dep.requests} requests at ${rate} requests/s (${fmt(dep.rateBefore, 0)}/s measured in the baselines), at most ${dep.maxInFlight} in flight, ${dep.waitedForConnection} issued while all ${OPEN_CONNECTIONS} connections were busy. Latency counts from each request's scheduled start, so a late generator shows as latency: its lag p99 was ${ms(before.lagP99)} before the deploys and ${ms(during.lagP99)} during them (timers fire at most once a millisecond, so up to about 1 ms of every latency is the generator's).`,
        `The ${dep.deploys} steady-load deploys took ${ms(median(dep.each.map((e) => e.ms)))} each (median); per deploy, p99 during vs its own baseline ranged from ${ratio(Math.min(...eachRatio))} to ${ratio(Math.max(...eachRatio))}, median ${ratio(median(eachRatio))}, the measure the goal takes (a deploy's windows hold thousands of requests each; a stall of the shared host moves one deploy's ratio, and the pooled one of the whole run).`,
        shift.n
          ? `The whole-deploy figure pools two phases: the build and warm-up (the first ${ms(median(dep.each.map((e) => e.ms - e.shiftMs)))} of each deploy, no traffic moved yet) ran at ${vs(build)} of p99 before, the traffic shift after it (${ms(median(dep.each.map((e) => e.shiftMs)))}) at ${vs(shift)}.`
          : 'No deploy shifted its traffic gradually (no slow-start step in its timings): the whole window is the build, warm-up and switch.',
        `The queue served ${served.length} of ${burst} simultaneous requests (1 running and up to 4 queued at a time, the rest refused with 429 and Retry-After) with a served p50 of ${ms(servedLat.median)}.`,
      ],
      raw: { capacity, calibration: cal, rate, deploy: dep, saturated: closed, fromZero: zero, queue: results },
    };
  } finally {
    await daemon.stop();
  }
}
