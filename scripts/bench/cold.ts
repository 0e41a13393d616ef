/**
 * Benchmark 2, invoke path cold: time to the first response when nothing is warm. Ignition: the
 * function is deployed with minWarm 0 and idleTimeoutMs 0, so the daemon stops the build instance
 * at its next pool tick; once the instance list is empty, one request is timed (it waits for an
 * instance to start from the golden artifact). Each sample is its own function, because after a
 * request the pool keeps a spare for its demand window. Next to it: `node bundle.mjs` (the same
 * handler bundled with @hono/node-server) and `workerd serve`, each from spawn to first 200.
 */
import path from 'node:path';
import { request } from 'undici';
import { bundleHello, buildNodeBundle, deployCode, instances, sparesReady, startDaemon, startNodeServer, startWorkerd, type Api } from './lib/servers.ts';
import { ms, ratio, sleep, summarize, type Summary } from './lib/stats.ts';
import type { BenchContext, BenchResult } from './lib/types.ts';

async function waitNoInstances(url: Api, name: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await instances(url, name)).length > 0) {
    if (Date.now() > deadline) throw new Error(`instances of ${name} were not stopped within ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function runCold(ctx: BenchContext): Promise<BenchResult> {
  const samples = ctx.quick ? 3 : 12;
  const warmups = 1;
  const dir = path.join(ctx.tmp, 'cold');
  const bundle = await bundleHello();

  // Ignition: from the steady state (the daemon's spare sandbox ready, which the start adopts), and
  // with no spare (IGNITION_PROCESS_SPARES=0: a sandbox and Node start on the request's path).
  const series = async (label: string, env: Record<string, string>, spare: boolean) => {
    const daemon = await startDaemon(env);
    const ms: number[] = [];
    const steps = new Map<string, number[]>();
    try {
      const names = Array.from({ length: samples + warmups }, (_, i) => `bench-cold-${i}`);
      for (const [i, name] of names.entries()) {
        // A distinct comment gives each function its own version digest (no shared golden artifact).
        await deployCode(daemon, name, `${bundle.code}\n// bench sample ${i}\n`, bundle.map, { minWarm: 0, idleTimeoutMs: 0 });
      }
      for (const [i, name] of names.entries()) {
        ctx.log(`cold: ignition ${label} ${i + 1}/${names.length}`);
        await waitNoInstances(daemon, name);
        if (spare && !(await sparesReady(daemon))) throw new Error('the daemon\'s spare sandbox was not ready within 20 s');
        const t = performance.now();
        const res = await request(`${daemon.url}/fn/${name}/`, { reset: true });
        await res.body.text();
        const took = performance.now() - t;
        if (res.statusCode !== 200) throw new Error(`cold invoke of ${name} answered ${res.statusCode}`);
        if (i < warmups) continue;
        ms.push(took);
        const inst = await instances(daemon, name);
        for (const s of inst[0]?.timings ?? []) steps.set(s.step, [...(steps.get(s.step) ?? []), s.ms]);
      }
    } finally {
      await daemon.stop();
    }
    return { ms, steps };
  };
  const adopted = await series('(spare ready)', {}, true);
  const unspared = await series('(no spare)', { IGNITION_PROCESS_SPARES: '0' }, false);
  const ign = adopted.ms;

  // From scratch: node bundle.mjs and workerd, spawn to first response.
  const nodeBundle = await buildNodeBundle(dir);
  const nodeMs: number[] = [];
  const workerdMs: number[] = [];
  for (let i = 0; i < samples + warmups; i++) {
    ctx.log(`cold: node and workerd ${i + 1}/${samples + warmups}`);
    const n = await startNodeServer(nodeBundle);
    await n.stop();
    const w = await startWorkerd(path.join(dir, `workerd-${i}`));
    await w.stop();
    if (i < warmups) continue;
    nodeMs.push(n.startMs);
    workerdMs.push(w.startMs);
  }

  const s = { ignition: summarize(ign), unspared: summarize(unspared.ms), node: summarize(nodeMs), workerd: summarize(workerdMs) };
  const stepRows = (steps: Map<string, number[]>) =>
    [...steps.entries()].map(([step, xs]) => {
      const x = summarize(xs);
      return [step, ms(x.median), ms(x.p99)];
    });
  const row = (label: string, x: Summary) => [label, ms(x.median), ms(x.p99), ratio(s.ignition.median / x.median)];
  return {
    id: 'cold',
    title: 'Invoke path, cold',
    measures: 'Time to the first response when no instance is warm: Ignition starting an instance from the golden artifact on demand, next to starting the same handler from scratch with `node bundle.mjs` and with `workerd serve`.',
    workload: 'GET / on the benchmark handler. Ignition: a function deployed with minWarm 0 and idleTimeoutMs 0, timed from the request to the end of the response on a new connection once the daemon has stopped every instance (process driver), twice: from the steady state, the daemon\'s spare sandbox ready (the start adopts it and loads the bundle), and on a daemon with processSpares 0 (the start spawns a sandbox and Node). node and workerd: from spawn to the first 200, polling every millisecond.',
    runs: `${samples} timed samples each after ${warmups} discarded warm-up sample(s); each Ignition sample is its own function.`,
    tables: [
      { columns: ['path', 'p50', 'p99', 'Ignition (spare) p50 ÷ this'], rows: [
          row('Ignition (instance start on demand, adopting the spare sandbox)', s.ignition),
          row('Ignition (instance start on demand, no spare: processSpares 0)', s.unspared),
          row('node bundle.mjs (@hono/node-server)', s.node),
          row('workerd serve', s.workerd),
        ],
      },
      { title: 'Where an Ignition cold start goes, adopting the spare (the instance\'s own step timings)', columns: ['step', 'p50', 'p99'], rows: stepRows(adopted.steps) },
      { title: 'Where an Ignition cold start goes with no spare', columns: ['step', 'p50', 'p99'], rows: stepRows(unspared.steps) },
    ],
    goals: [],
    notes: [
      `Ignition's cold p50, adopting the spare, is ${ratio(s.ignition.median / s.node.median)} of a from-scratch Node start and ${ratio(s.ignition.median / s.workerd.median)} of workerd's start; with no spare it is ${ratio(s.unspared.median / s.node.median)} of the Node start.`,
      'The spare is replaced after each adoption, at background priority; starts that come faster than that (a burst of cold starts) find none and take the no-spare path.',
    ],
    raw: { samples: { ignition: ign, unspared: unspared.ms, node: nodeMs, workerd: workerdMs }, summary: s, steps: Object.fromEntries(adopted.steps), unsparedSteps: Object.fromEntries(unspared.steps) },
  };
}
