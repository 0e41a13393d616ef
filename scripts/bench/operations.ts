/**
 * Benchmark: the platform's operations under traffic (issue 7's measures).
 *  - Deploy under steady load: a closed loop runs while a new version is deployed; requests that
 *    failed, and p99 before versus during the deploy (goal: none failed, p99 unchanged).
 *  - Scale from zero: a function with minWarm 0 and a short idle timeout scales to zero; the time
 *    to the first response after that (a cold start through the pool).
 *  - Queueing at the maximum: one instance, concurrency 1, a queue of 4; a burst of 12 slow requests
 *    shows how many are served, how many are refused with 429, and the latency of the queued ones.
 */
import { Pool, request } from 'undici';
import { bundleHello, deployCode, fnTarget, instances, startDaemon } from './lib/servers.ts';
import { fmt, ms, ratio, sleep, summarize } from './lib/stats.ts';
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

export async function runOperations(ctx: BenchContext): Promise<BenchResult> {
  const bundle = await bundleHello();
  const daemon = await startDaemon();
  try {
    // 1. Deploy under steady load.
    await deployCode(daemon, 'ops-deploy', bundle.code, bundle.map, { minWarm: 1 });
    const target = fnTarget(daemon.url, 'ops-deploy');
    const baselineMs = ctx.quick ? 1500 : 5000;
    let stop = false;
    const running = loop(target.origin, target.path, 8, () => stop);
    await sleep(baselineMs);
    const deployStart = performance.now();
    await deployCode(daemon, 'ops-deploy', `${bundle.code}\n// v2\n`, bundle.map, { minWarm: 1 });
    const deployEnd = performance.now();
    await sleep(ctx.quick ? 500 : 2000);
    stop = true;
    const samples = await running;
    const warmStart = samples.length ? samples[0].at + 500 : 0;
    const before = summarize(samples.filter((s) => s.ok && s.at > warmStart && s.at < deployStart).map((s) => s.ms));
    const during = summarize(samples.filter((s) => s.ok && s.at >= deployStart && s.at <= deployEnd).map((s) => s.ms));
    const failed = samples.filter((s) => !s.ok).length;
    ctx.log(`operations: deploy under load: ${samples.length} requests, ${failed} failed`);

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
    return {
      id: 'operations',
      title: 'Operations under traffic',
      measures: 'Requests failed or delayed while a new version is deployed under steady load; time to first response when scaling from zero; behaviour of the bounded queue at the maximum number of instances.',
      workload: `Deploy: GET / on the benchmark handler, 8 connections closed loop, ${baselineMs / 1000} s before the deploy, through it, and a little after. Scale from zero: minWarm 0, idleTimeoutMs 300, waiting until no instance is left before each request. Queue: the slow fixture (200 ms), maxInstances 1, concurrency 1, queueSize 4, ${burst} simultaneous requests. Process driver.`,
      runs: `Deploy: 1 run (every request counted). Scale from zero: ${zeroRuns} runs. Queue: 1 burst.`,
      tables: [
        {
          title: 'Deploy under steady load',
          columns: ['requests', 'failed', 'p50 before', 'p99 before', 'p50 during', 'p99 during', 'deploy took'],
          rows: [[samples.length, failed, ms(before.median), ms(before.p99), ms(during.median), ms(during.p99), ms(deployEnd - deployStart)]],
        },
        { title: 'Scale from zero', columns: ['runs', 'p50', 'p99', 'min'], rows: [[zero.n, ms(zero.median), ms(zero.p99), ms(zero.min)]] },
        {
          title: 'Queueing at the maximum',
          columns: ['requests', 'served', 'refused (429)', 'Retry-After', 'served p50', 'served max'],
          rows: [[burst, served.length, refused.length, refused[0]?.retryAfter?.toString() ?? '-', ms(servedLat.median), ms(servedLat.max)]],
        },
      ],
      goals: [
        goal('requests failed during a deploy under load', failed, '<=', 0, 'requests', (m) => `${fmt(m, 0)} requests failed while the deploy ran.`),
        goal('p99 during a deploy vs before', p99Ratio, '<=', 1.5, '×', (m) => `p99 during the deploy was ${ratio(m)} of p99 before it: the deploy's build machine and warm-up share the host's CPU with the traffic.`),
      ],
      notes: [
        `The queue served ${served.length} of ${burst} simultaneous requests (1 running and up to 4 queued at a time, the rest refused with 429 and Retry-After) with a served p50 of ${ms(servedLat.median)}.`,
      ],
      raw: { deploy: { requests: samples.length, failed, before, during, deployMs: deployEnd - deployStart }, fromZero: zero, queue: results },
    };
  } finally {
    await daemon.stop();
  }
}
