/**
 * Benchmark 7, CLI start-up: wall time of `ignition --version` (the bundled dist/ignition.mjs)
 * next to `node -e 0`, the floor for any Node CLI, spawned alternately in the same loop.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './lib/servers.ts';
import { ms, ratio, summarize } from './lib/stats.ts';
import { goal, type BenchContext, type BenchResult } from './lib/types.ts';

function wall(args: string[]): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const took = performance.now() - t;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return took;
}

export async function runCli(ctx: BenchContext): Promise<BenchResult> {
  const runs = ctx.quick ? 8 : 60;
  const warmups = 2;
  const cli = path.join(ROOT, 'dist', 'ignition.mjs');
  const ign: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < runs + warmups; i++) {
    const a = wall([cli, '--version']);
    const b = wall(['-e', '0']);
    if (i < warmups) continue;
    ign.push(a);
    node.push(b);
  }
  const s = { ignition: summarize(ign), node: summarize(node) };
  const r = s.ignition.median / s.node.median;
  return {
    id: 'cli',
    title: 'CLI start-up',
    measures: 'Wall time of `ignition --version` next to `node -e 0`.',
    workload: 'Each command spawned synchronously, the two alternating, output captured and discarded.',
    runs: `${runs} runs each after ${warmups} discarded.`,
    tables: [
      {
        columns: ['command', 'p50', 'p99', '÷ node -e 0 (p50)'],
        rows: [
          ['ignition --version', ms(s.ignition.median), ms(s.ignition.p99), ratio(r)],
          ['node -e 0', ms(s.node.median), ms(s.node.p99), ratio(1)],
        ],
      },
    ],
    goals: [
      goal('CLI start within 1.5× of `node -e 0`', r, '<=', 1.5, '×', (m) =>
        `\`ignition --version\` took ${ratio(m)} of \`node -e 0\` at the median: ${ms(s.ignition.median - s.node.median)} on top of Node's own start, spent loading and evaluating the CLI bundle before it prints the version; printing the version before importing the command modules removes most of it.`),
    ],
    notes: [],
    raw: { samples: { ignition: ign, node }, summary: s, ratio: r },
  };
}
