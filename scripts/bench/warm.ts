/**
 * Benchmark 1, invoke path warm: one handler served five ways and driven by one load generator in
 * the same run: through Ignition (`/fn/<name>/`), by bare @hono/node-server (the limit for a Node
 * handler), by workerd (a production function runtime), by Ignition's agent alone on its Unix
 * socket (no daemon; it splits the daemon's hop from the agent's), and by that agent behind a
 * bare forwarding process (fixtures/bare-forwarder.ts: what any proxy hop costs before it does
 * any of the platform's work). Rounds alternate the targets so that drifting background load hits
 * them alike. CPU time per request of each server process is read from /proc to show where
 * Ignition's extra cost sits.
 */
import os from 'node:os';
import path from 'node:path';
import { closedLoop, sequential, type LoadResult, type Target } from './lib/load.ts';
import { cpuMsOf, processTree } from './lib/procs.ts';
import { bundleHello, buildNodeBundle, deployCode, fnTarget, instances, startAgent, startDaemon, startForwarder, startNodeServer, startWorkerd } from './lib/servers.ts';
import { fmt, median, ms, ratio, summarize } from './lib/stats.ts';
import { goal, type BenchContext, type BenchResult } from './lib/types.ts';

type Name = 'ignition' | 'node-server' | 'workerd' | 'agent alone' | 'forwarder';

interface Contender {
  name: Name;
  target: Target;
  pids: () => number[];
  /**
   * For a path of two processes: the function's process (Ignition's instance, the agent behind
   * the forwarder). Its CPU is reported apart from the front process's, so the table shows what
   * each side of the hop costs, and what the same agent costs behind a proxy against alone.
   */
  back?: () => number[];
}

export async function runWarm(ctx: BenchContext): Promise<BenchResult> {
  const rounds = ctx.quick ? 1 : 3;
  const durationMs = ctx.quick ? 2000 : 10_000;
  const warmupMs = ctx.quick ? 500 : 2000;
  const seqCount = ctx.quick ? 300 : 3000;
  const seqWarmup = ctx.quick ? 100 : 300;
  const connections = 32;
  const dir = path.join(ctx.tmp, 'warm');

  const bundle = await bundleHello();
  const daemon = await startDaemon();
  const stops: Array<() => Promise<unknown>> = [() => daemon.stop()];
  try {
    await deployCode(daemon, 'bench-warm', bundle.code, bundle.map, { minWarm: 1 });
    const node = await startNodeServer(await buildNodeBundle(dir));
    stops.push(node.stop);
    const workerd = await startWorkerd(path.join(dir, 'workerd'));
    stops.push(workerd.stop);
    const agent = await startAgent(path.join(dir, 'agent'), bundle);
    stops.push(agent.stop);
    const forwarder = await startForwarder(path.join(dir, 'forwarder'), agent.socket);
    stops.push(forwarder.stop);

    const ignitionPids = async () => {
      const inst = await instances(daemon, 'bench-warm');
      // The process driver's instances run under the daemon's launcher, so they are in its tree
      // already; a set counts each process once wherever it runs.
      return [...new Set([...processTree(daemon.child.pid!), ...inst.flatMap((i) => (i.pid ? processTree(i.pid) : []))])];
    };
    const instancePids = async () => (await instances(daemon, 'bench-warm')).flatMap((i) => (i.pid ? processTree(i.pid) : []));
    let ignPids = await ignitionPids();
    let instPids = await instancePids();
    const contenders: Contender[] = [
      { name: 'ignition', target: fnTarget(daemon.url, 'bench-warm'), pids: () => ignPids, back: () => instPids },
      { name: 'node-server', target: node.target, pids: () => processTree(node.child.pid!) },
      { name: 'workerd', target: workerd.target, pids: () => processTree(workerd.child.pid!) },
      { name: 'agent alone', target: agent.target, pids: () => processTree(agent.child.pid!) },
      { name: 'forwarder', target: forwarder.target, pids: () => [...processTree(forwarder.child.pid!), ...processTree(agent.child.pid!)], back: () => processTree(agent.child.pid!) },
    ];

    const runs: Record<Name, LoadResult[]> = { ignition: [], 'node-server': [], workerd: [], 'agent alone': [], forwarder: [] };
    const cpuPerReq: Record<Name, number[]> = { ignition: [], 'node-server': [], workerd: [], 'agent alone': [], forwarder: [] };
    /** CPU per request of the back process of a two-process path (Contender.back). */
    const backPerReq: Partial<Record<Name, number[]>> = { ignition: [], forwarder: [] };
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no contender always runs first (or last).
      const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
      for (const c of order) {
        ctx.log(`warm: round ${r + 1}/${rounds} ${c.name}`);
        if (c.name === 'ignition') [ignPids, instPids] = [await ignitionPids(), await instancePids()];
        const pids = c.pids();
        const back = c.back?.() ?? [];
        const cpu0 = cpuMsOf(pids);
        const back0 = cpuMsOf(back);
        const res = await closedLoop(c.target, { connections, durationMs, warmupMs });
        // CPU includes the warm-up period: divide by every request made in it, approximated by rate.
        const cpu = cpuMsOf(c.name === 'ignition' ? await ignitionPids() : pids) - cpu0;
        const totalReq = res.rps * ((durationMs + warmupMs) / 1000);
        cpuPerReq[c.name].push((cpu / totalReq) * 1000);
        if (c.back) backPerReq[c.name]!.push(((cpuMsOf(back) - back0) / totalReq) * 1000);
        runs[c.name].push(res);
      }
    }
    const seq: Partial<Record<Name, LoadResult>> = {};
    for (const c of contenders) {
      ctx.log(`warm: sequential ${c.name}`);
      seq[c.name] = await sequential(c.target, seqCount, seqWarmup);
    }

    const agg = (n: Name) => {
      const rs = runs[n];
      const lat = summarize(rs.flatMap((x) => x.samples));
      return { rps: median(rs.map((x) => x.rps)), rpsRounds: rs.map((x) => x.rps), p50: lat.median, p99: lat.p99, errors: rs.reduce((a, x) => a + x.errors, 0), requests: rs.reduce((a, x) => a + x.requests, 0), cpuUsPerRequest: median(cpuPerReq[n]) };
    };
    const backUs = { ignition: median(backPerReq.ignition!), forwarder: median(backPerReq.forwarder!) };
    const a = { ignition: agg('ignition'), node: agg('node-server'), workerd: agg('workerd'), agent: agg('agent alone'), forwarder: agg('forwarder') };
    const s = { ignition: seq.ignition!.latency, node: seq['node-server']!.latency, workerd: seq.workerd!.latency, agent: seq['agent alone']!.latency, forwarder: seq.forwarder!.latency };
    const vsNode = a.ignition.rps / a.node.rps;
    const vsWorkerd = a.ignition.rps / a.workerd.rps;
    const agentVsNode = a.agent.rps / a.node.rps;
    const forwarderVsNode = a.forwarder.rps / a.node.rps;
    const added = s.ignition.median - s.node.median;
    const addedByAgent = s.agent.median - s.node.median;
    const cores = os.cpus().length;

    const throughputWhy = (m: number) =>
      `Ignition reached ${ratio(m)} of bare node-server's requests/s. A request through Ignition passes two servers instead of one (the daemon, then the agent over a Unix socket); ` +
      `the agent alone reached ${ratio(agentVsNode)} of node-server, and per request the daemon and instance together used ${fmt(a.ignition.cpuUsPerRequest, 0)} µs of CPU against ${fmt(a.node.cpuUsPerRequest, 0)} µs for node-server and ${fmt(a.agent.cpuUsPerRequest, 0)} µs for the agent alone. ` +
      `With ${cores} cores shared by the load generator and every server process, throughput follows CPU per request, so the daemon's hop (${fmt(a.ignition.cpuUsPerRequest - a.agent.cpuUsPerRequest, 0)} µs) is the cost to cut. ` +
      `A bare forwarder in front of the same agent, a process that only moves the bytes (fixtures/bare-forwarder.ts), reached ${ratio(forwarderVsNode)} of node-server at ${fmt(a.forwarder.cpuUsPerRequest, 0)} µs per request with the agent: the floor of any path with a process between the client and the function on this host.`;
    const goals = [
      goal('warm throughput ≥ 0.6× bare @hono/node-server', vsNode, '>=', 0.6, '×', throughputWhy),
      goal('warm throughput above workerd', vsWorkerd, '>', 1, '×', (m) => `Ignition reached ${ratio(m)} of workerd's requests/s (workerd used ${fmt(a.workerd.cpuUsPerRequest, 0)} µs of CPU per request, Ignition ${fmt(a.ignition.cpuUsPerRequest, 0)} µs across daemon and instance).`),
      goal('warm p50 added over bare node-server (1 connection)', added, '<', 0.5, 'ms', (m) =>
        `Sequential requests took ${ms(m)} longer at the median through Ignition than on bare node-server; the agent alone added ${ms(addedByAgent)}, so about ${ms(m - addedByAgent)} is the daemon's hop (HTTP parse, routing, pool checkout, the proxied request over the Unix socket and the streamed response).`),
    ];
    const row = (label: string, x: typeof a.ignition, sq: typeof s.ignition, r: number | null) => [label, fmt(x.rps, 0), ms(x.p50), ms(x.p99), ms(sq.median), ms(sq.p99), fmt(x.cpuUsPerRequest, 0), r === null ? '—' : ratio(r)];
    return {
      id: 'warm',
      title: 'Invoke path, warm',
      measures: 'Requests/s and latency of one trivial fetch handler served through Ignition, by bare @hono/node-server, by workerd, by Ignition\'s agent alone, and by the agent behind a bare forwarding process (the floor of a proxy hop), with the same load generator in the same run.',
      workload: `GET / returning 14 bytes. Closed loop: ${connections} keep-alive connections (undici pool) for ${durationMs / 1000} s after ${warmupMs / 1000} s of discarded warm-up; then ${seqCount} sequential requests on one connection after ${seqWarmup} discarded. Ignition: process driver, function deployed with minWarm 1 and default settings otherwise.`,
      runs: `${rounds} round(s) per contender, order rotated each round; requests/s is the median over rounds, latency percentiles pool every request of every round.`,
      tables: [
        {
          columns: ['server', 'req/s (32 conns)', 'p50', 'p99', 'p50 (1 conn)', 'p99 (1 conn)', 'CPU µs/req', 'Ignition req/s ÷ this'],
          rows: [
            row('Ignition (/fn/<name>/)', a.ignition, s.ignition, null),
            row('@hono/node-server (bare)', a.node, s.node, vsNode),
            row('workerd', a.workerd, s.workerd, vsWorkerd),
            row('Ignition agent alone (Unix socket)', a.agent, s.agent, a.ignition.rps / a.agent.rps),
            row('bare forwarder + agent (the floor of a proxy hop)', a.forwarder, s.forwarder, a.ignition.rps / a.forwarder.rps),
          ],
        },
        {
          title: 'CPU per request by process (µs, median of rounds)',
          columns: ['path', 'front process', 'function process', 'function process alone'],
          rows: [
            ['Ignition', `daemon ${fmt(a.ignition.cpuUsPerRequest - backUs.ignition, 0)}`, `instance ${fmt(backUs.ignition, 0)}`, `agent ${fmt(a.agent.cpuUsPerRequest, 0)}`],
            ['bare forwarder + agent', `forwarder ${fmt(a.forwarder.cpuUsPerRequest - backUs.forwarder, 0)}`, `agent ${fmt(backUs.forwarder, 0)}`, `agent ${fmt(a.agent.cpuUsPerRequest, 0)}`],
          ],
        },
      ],
      goals,
      notes: [
        `Errors during measurement: Ignition ${a.ignition.errors}, node-server ${a.node.errors}, workerd ${a.workerd.errors}, agent ${a.agent.errors}, forwarder ${a.forwarder.errors}.`,
        `Median latency added over bare node-server with one connection: Ignition ${ms(added)}, agent alone ${ms(addedByAgent)}, workerd ${ms(s.workerd.median - s.node.median)}.`,
        `The same agent cost ${fmt(backUs.forwarder, 0)} µs per request behind the bare forwarder and ${fmt(a.agent.cpuUsPerRequest, 0)} µs alone: what a second process on the path adds to the function's own process on this host (fewer requests per wake-up, three processes sharing the cores), before any platform work. Ignition's instance cost ${fmt(backUs.ignition, 0)} µs.`,
      ],
      raw: { connections, durationMs, warmupMs, rounds, aggregate: a, backCpuUsPerRequest: backUs, sequential: s, ratios: { vsNode, vsWorkerd, agentVsNode, forwarderVsNode }, addedP50Ms: added, addedP50ByAgentMs: addedByAgent, rpsRounds: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.map((x) => x.rps)])) },
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}
