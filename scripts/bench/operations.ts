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
import { bundleHello, deployCode, fnTarget, instances, startDaemon, type Api } from './lib/servers.ts';
import { fmt, median, ms, ratio, sleep, summarize, type Summary } from './lib/stats.ts';
import { goal, type BenchContext, type BenchResult } from './lib/types.ts';
import { bundleFunction } from '../../platform/functions/bundle.ts';
import { FIXTURES as TEST_FIXTURES } from '../../test/support/daemon.ts';
import nodePath from 'node:path';

interface Sample {
  at: number;
  ms: number;
  ok: boolean;
}

async function loop(origin: string, path: string, connections: number, until: () => boolean): Promise<Sample[]> {
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const samples: Sample[] = [];
  try {
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (!until()) {
          const t = performance.now();
          let ok = false;
          try {
            const res = await pool.request({ method: 'GET', path });
            await res.body.dump();
            ok = res.statusCode === 200;
          } catch {
            ok = false;
          }
          samples.push({ at: t, ms: performance.now() - t, ok });
        }
      }),
    );
  } finally {
    await pool.destroy();
  }
  return samples;
}

/** Busy and total CPU time of the whole host so far (clock ticks, /proc/stat), or null off Linux. */
function hostCpu(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3] - f[4], total };
  } catch {
    return null;
  }
}

/** The share of the host's CPU that was busy between two hostCpu() readings. */
function busyShare(a: ReturnType<typeof hostCpu>, b: ReturnType<typeof hostCpu>): number | null {
  return a && b && b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : null;
}

interface Window {
  from: number;
  to: number;
  busy: number | null;
}

export interface DeployUnderLoad {
  deploys: number;
  baselineMs: number;
  afterMs: number;
  requests: number;
  failed: number;
  before: Summary;
  /** The whole deploy: from the request to the answer. */
  during: Summary;
  /** Its first part: the build machine, the warm-up, until traffic starts to move. */
  build: Summary;
  /** Its last part: traffic moving to the new version (slow start), until the answer. */
  shift: Summary;
  after: Summary;
  /** Per deploy: its wall time, how long its traffic shift took, and p99 before and during. */
  each: Array<{ ms: number; shiftMs: number; p99Before: number; p99During: number; busyBefore: number | null; busyDuring: number | null }>;
  busyBefore: number | null;
  busyDuring: number | null;
}

/**
 * Deploys a new version of `name` `deploys` times under a closed loop of `connections` requests,
 * each deploy preceded by a quiet baseline window of `baselineMs` and followed by `afterMs`.
 * Windows are by the time a request started: "before" is the baseline just ahead of each deploy;
 * "during" runs from the deploy request to its answer and is split where traffic starts to move
 * to the new version (the daemon's `slow-start` timing, counted back from the answer) into
 * "build" and "shift"; "after" is the `afterMs` that follow the answer (the old version drains).
 * Pooling the windows of several deploys gives each percentile thousands of samples.
 */
export async function deployUnderLoad(
  daemon: Api,
  name: string,
  bundle: { code: string; map: string },
  opts: { deploys: number; baselineMs: number; afterMs: number; warmupMs: number; connections: number },
): Promise<DeployUnderLoad> {
  await deployCode(daemon, name, bundle.code, bundle.map, { minWarm: 1 });
  const target = fnTarget(daemon.url, name);
  let stop = false;
  const running = loop(target.origin, target.path, opts.connections, () => stop);
  const before: Window[] = [];
  const during: Window[] = [];
  const build: Window[] = [];
  const shift: Window[] = [];
  const after: Window[] = [];
  const nonce = randomUUID();
  try {
    // The first seconds of traffic count in no window: a fresh instance's JIT is cold for its
    // first few thousand requests (several times the CPU per request), which would inflate the
    // first baseline's p99 and flatter every ratio.
    await sleep(opts.warmupMs);
    for (let i = 0; i < opts.deploys; i++) {
      const b0 = performance.now();
      const c0 = hostCpu();
      await sleep(opts.baselineMs);
      const d0 = performance.now();
      const c1 = hostCpu();
      before.push({ from: b0, to: d0, busy: busyShare(c0, c1) });
      // New content every time (a nonce), so each deploy builds a new version.
      const answer = await deployCode(daemon, name, `${bundle.code}\n// deploy ${i + 1} ${nonce}\n`, bundle.map, { minWarm: 1 });
      const d1 = performance.now();
      const c2 = hostCpu();
      const shiftMs = answer.timings?.find((t) => t.step === 'slow-start')?.ms ?? 0;
      const switchAt = Math.max(d0, d1 - shiftMs);
      during.push({ from: d0, to: d1, busy: busyShare(c1, c2) });
      build.push({ from: d0, to: switchAt, busy: null });
      shift.push({ from: switchAt, to: d1, busy: null });
      await sleep(opts.afterMs);
      after.push({ from: d1, to: performance.now(), busy: busyShare(c2, hostCpu()) });
    }
  } finally {
    stop = true;
  }
  const samples = await running;
  const okMs = (ws: Window[]) => samples.filter((s) => s.ok && ws.some((w) => s.at >= w.from && s.at < w.to)).map((s) => s.ms);
  const meanBusy = (ws: Window[]) => (ws.every((w) => w.busy !== null) ? ws.reduce((n, w) => n + w.busy! * (w.to - w.from), 0) / ws.reduce((n, w) => n + w.to - w.from, 0) : null);
  return {
    deploys: opts.deploys,
    baselineMs: opts.baselineMs,
    afterMs: opts.afterMs,
    requests: samples.length,
    failed: samples.filter((s) => !s.ok).length,
    before: summarize(okMs(before)),
    during: summarize(okMs(during)),
    build: summarize(okMs(build)),
    shift: summarize(okMs(shift)),
    after: summarize(okMs(after)),
    each: during.map((w, i) => ({
      ms: w.to - w.from,
      shiftMs: shift[i].to - shift[i].from,
      p99Before: summarize(okMs([before[i]])).p99,
      p99During: summarize(okMs([w])).p99,
      busyBefore: before[i].busy,
      busyDuring: w.busy,
    })),
    busyBefore: meanBusy(before),
    busyDuring: meanBusy(during),
  };
}

export async function runOperations(ctx: BenchContext): Promise<BenchResult> {
  const bundle = await bundleHello();
  const daemon = await startDaemon();
  try {
    // 1. Deploy under steady load.
    const dep = await deployUnderLoad(daemon, 'ops-deploy', bundle, {
      deploys: ctx.quick ? 2 : 8,
      baselineMs: ctx.quick ? 1000 : 2000,
      afterMs: 1000,
      warmupMs: 3000,
      connections: 8,
    });
    const { before, during, build, shift, after, failed } = dep;
    ctx.log(`operations: deploy under load: ${dep.deploys} deploys, ${dep.requests} requests, ${failed} failed`);

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

    const p99Ratio = before.n && during.n ? during.p99 / before.p99 : null;
    const afterRatio = before.n && after.n ? after.p99 / before.p99 : null;
    const pct = (x: number | null) => (x === null ? 'n/a' : `${Math.round(x * 100)}%`);
    const vs = (x: Summary) => (before.n && x.n ? ratio(x.p99 / before.p99) : 'n/a');
    const eachRatio = dep.each.map((e) => e.p99During / e.p99Before);
    return {
      id: 'operations',
      title: 'Operations under traffic',
      measures: 'Requests failed or delayed while a new version is deployed under steady load; time to first response when scaling from zero; behaviour of the bounded queue at the maximum number of instances.',
      workload: `Deploy: GET / on the benchmark handler, 8 connections in a closed loop for the whole section (its first 3 s discarded: the instance's JIT warms); ${dep.deploys} deploys of a new version (minWarm 1), each after a ${dep.baselineMs / 1000} s baseline and followed by ${dep.afterMs / 1000} s. A request counts in the window in which it started: before (the baseline just ahead of each deploy), during (from the deploy request to its answer), split into build and warm-up (until traffic starts to move) and traffic shift (the daemon's slow start, from its own timing), and after (the ${dep.afterMs / 1000} s after the answer: the old version drains). The windows of all deploys are pooled. Scale from zero: minWarm 0, idleTimeoutMs 300, waiting until no instance is left before each request. Queue: the slow fixture (200 ms), maxInstances 1, concurrency 1, queueSize 4, ${burst} simultaneous requests. Process driver.`,
      runs: `Deploy: ${dep.deploys} deploys in one loop (every request counted). Scale from zero: ${zeroRuns} runs. Queue: 1 burst.`,
      tables: [
        {
          title: 'Deploy under steady load',
          columns: ['window', 'requests', 'p50', 'p99', 'p99 vs before', 'host CPU busy'],
          rows: [
            ['before', before.n, ms(before.median), ms(before.p99), '1.00×', pct(dep.busyBefore)],
            ['during (whole deploy)', during.n, ms(during.median), ms(during.p99), vs(during), pct(dep.busyDuring)],
            ['· build and warm-up', build.n, ms(build.median), ms(build.p99), vs(build), 'n/a'],
            ['· traffic shift', shift.n, ms(shift.median), ms(shift.p99), vs(shift), 'n/a'],
            [`${dep.afterMs / 1000} s after`, after.n, ms(after.median), ms(after.p99), vs(after), 'n/a'],
          ],
        },
        {
          title: 'Each deploy',
          columns: ['deploy', 'took', 'of which traffic shift', 'p99 before', 'p99 during', 'ratio', 'host CPU busy before', 'during'],
          rows: dep.each.map((e, i) => [i + 1, ms(e.ms), ms(e.shiftMs), ms(e.p99Before), ms(e.p99During), ratio(eachRatio[i]), pct(e.busyBefore), pct(e.busyDuring)]),
        },
        { title: 'Scale from zero', columns: ['runs', 'p50', 'p99', 'min'], rows: [[zero.n, ms(zero.median), ms(zero.p99), ms(zero.min)]] },
        {
          title: 'Queueing at the maximum',
          columns: ['requests', 'served', 'refused (429)', 'Retry-After', 'served p50', 'served max'],
          rows: [[burst, served.length, refused.length, refused[0]?.retryAfter?.toString() ?? '-', ms(servedLat.median), ms(servedLat.max)]],
        },
      ],
      goals: [
        goal('requests failed during a deploy under load', failed, '<=', 0, 'requests', (m) => `${fmt(m, 0)} of ${dep.requests} requests failed over ${dep.deploys} deploys.`),
        goal('p99 during a deploy vs before', p99Ratio, '<=', 1.5, '×', (m) =>
          `p99 during the deploys was ${ratio(m)} of p99 before them (host CPU ${pct(dep.busyDuring)} busy during, ${pct(dep.busyBefore)} before): the build machine's start (${vs(build)}), though at background priority, and the new instance's cold JIT during the traffic shift (${vs(shift)}) still take CPU the traffic needs.`,
        ),
        goal('p99 after a deploy vs before', afterRatio, '<=', 1.5, '×', (m) => `p99 in the ${dep.afterMs / 1000} s after each deploy answered was ${ratio(m)} of p99 before it: the switch (the old version draining, the new instance taking all traffic) delays requests.`),
      ],
      notes: [
        `The ${dep.deploys} deploys took ${ms(median(dep.each.map((e) => e.ms)))} each (median); per deploy, p99 during vs its own baseline ranged from ${ratio(Math.min(...eachRatio))} to ${ratio(Math.max(...eachRatio))}, median ${ratio(median(eachRatio))} (one deploy's windows hold few requests and a noisy baseline moves them; the pooled figure is the measure).`,
        shift.n
          ? `The whole-deploy figure pools two phases: the build and warm-up (the first ${ms(median(dep.each.map((e) => e.ms - e.shiftMs)))} of each deploy, no traffic moved yet) ran at ${vs(build)} of p99 before, the traffic shift after it (${ms(median(dep.each.map((e) => e.shiftMs)))}) at ${vs(shift)}.`
          : 'No deploy shifted its traffic gradually (no slow-start step in its timings): the whole window is the build, warm-up and switch.',
        `The queue served ${served.length} of ${burst} simultaneous requests (1 running and up to 4 queued at a time, the rest refused with 429 and Retry-After) with a served p50 of ${ms(servedLat.median)}.`,
      ],
      raw: { deploy: dep, fromZero: zero, queue: results },
    };
  } finally {
    await daemon.stop();
  }
}
