/**
 * Benchmark 6, density: memory per warm instance (process driver: RSS and PSS of each instance's
 * process tree, read from /proc), the daemon's memory with many deployed functions and none warm
 * (deployed through the REST API with minWarm 0; one bundle, a varying comment gives each its own
 * digest), and the time to deploy 100 functions one after another.
 */
import { processTree, memoryOf, memoryOfAll } from './lib/procs.ts';
import { bundleHello, deployCode, instances, startDaemon, type Api } from './lib/servers.ts';
import { fmt, mib, ms, sleep, summarize } from './lib/stats.ts';
import type { BenchContext, BenchResult } from './lib/types.ts';

async function waitAllStopped(url: Api, names: string[], timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const n of names) {
    while ((await instances(url, n)).length > 0) {
      if (Date.now() > deadline) throw new Error('instances were not stopped in time');
      await sleep(200);
    }
  }
}

export async function runDensity(ctx: BenchContext): Promise<BenchResult> {
  const warm = ctx.quick ? 2 : 10;
  const timedDeploys = ctx.quick ? 10 : 100;
  const total = ctx.quick ? 20 : 1000;
  const parallel = 4;
  const bundle = await bundleHello();
  const daemon = await startDaemon();
  try {
    const pid = daemon.child.pid!;
    const baseline = memoryOf(pid);

    // Warm instances: `warm` functions with minWarm 1.
    for (let i = 0; i < warm; i++) await deployCode(daemon, `bench-warm-${i}`, `${bundle.code}\n// warm ${i}\n`, bundle.map, { minWarm: 1 });
    const perInstance = [];
    for (let i = 0; i < warm; i++) {
      for (const inst of await instances(daemon, `bench-warm-${i}`)) if (inst.pid) perInstance.push(memoryOfAll(processTree(inst.pid)));
    }
    const rss = summarize(perInstance.map((m) => m.rssBytes));
    const pss = summarize(perInstance.map((m) => m.pssBytes));

    // Deploy time, one after another, minWarm 0.
    const names: string[] = [];
    const deployMs: number[] = [];
    ctx.log(`density: ${timedDeploys} timed deploys`);
    const t0 = performance.now();
    for (let i = 0; i < timedDeploys; i++) {
      const name = `bench-idle-${i}`;
      const t = performance.now();
      await deployCode(daemon, name, `${bundle.code}\n// idle ${i}\n`, bundle.map, { minWarm: 0, idleTimeoutMs: 0 });
      deployMs.push(performance.now() - t);
      names.push(name);
    }
    const deploySeconds = (performance.now() - t0) / 1000;
    // The rest, a few at a time (not timed as the goal).
    ctx.log(`density: deploying up to ${total} functions`);
    let next = timedDeploys;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (next < total) {
          const i = next++;
          await deployCode(daemon, `bench-idle-${i}`, `${bundle.code}\n// idle ${i}\n`, bundle.map, { minWarm: 0, idleTimeoutMs: 0 });
          names.push(`bench-idle-${i}`);
        }
      }),
    );
    await waitAllStopped(daemon, names);
    // Let the heap settle before reading the daemon's memory.
    await sleep(2000);
    const loaded = memoryOf(pid);
    const warmTrees = (await Promise.all(Array.from({ length: warm }, (_, i) => instances(daemon, `bench-warm-${i}`)))).flat();
    const instancePids = new Set(warmTrees.flatMap((i) => (i.pid ? processTree(i.pid) : [])));
    const daemonOnly = memoryOfAll(processTree(pid).filter((p) => !instancePids.has(p)));
    const d = summarize(deployMs);
    return {
      id: 'density',
      title: 'Density',
      measures: 'Memory of one warm instance on the process driver, the daemon\'s memory with many deployed functions and none of them warm, and the time to deploy functions one after another.',
      workload: `${warm} functions with minWarm 1 (one warm instance each; memory = RSS and PSS of the instance's process tree from /proc). Then ${total} functions deployed through POST /v1/functions/<name>/deployments with minWarm 0 (the first ${timedDeploys} one after another and timed, the rest ${parallel} at a time), each with its own digest; the daemon's memory is read once every build instance has stopped.`,
      runs: `${perInstance.length} warm instances; ${timedDeploys} timed deploys; one daemon reading before and after.`,
      tables: [
        {
          title: 'Memory',
          columns: ['what', 'RSS', 'PSS'],
          rows: [
            ['one warm instance (p50 of its process tree)', mib(rss.median), mib(pss.median)],
            ['one warm instance (max)', mib(rss.max), mib(pss.max)],
            ['daemon, after start', mib(baseline.rssBytes), mib(baseline.pssBytes)],
            [`daemon with ${total} deployed functions, none warm`, mib(loaded.rssBytes), mib(loaded.pssBytes)],
            [`daemon's process tree (its helper processes too) without the ${warm} warm instances`, mib(daemonOnly.rssBytes), mib(daemonOnly.pssBytes)],
            [`daemon growth per deployed function`, mib((loaded.rssBytes - baseline.rssBytes) / total), mib((loaded.pssBytes - baseline.pssBytes) / total)],
          ],
        },
        {
          title: 'Deploys (REST API, bundle already built)',
          columns: ['functions', 'total s', 'per deploy p50', 'per deploy p99'],
          rows: [[timedDeploys, fmt(deploySeconds, 2), ms(d.median), ms(d.p99)]],
        },
      ],
      goals: [],
      notes: [],
      raw: { warm, perInstance, baseline, loaded, daemonOnly, total, timedDeploys, deployMs, deploySeconds },
    };
  } finally {
    await daemon.stop();
  }
}
