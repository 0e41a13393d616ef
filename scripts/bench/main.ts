/**
 * Ignition's benchmark suite (`npm run bench [-- --quick] [-- --only=warm,cold]`): runs every
 * benchmark in one process, one after another, and writes docs/BENCHMARKS.md (tables generated
 * from the measured numbers) and bench/results.json (the raw figures, the machine description
 * and the commit measured, with whether the tree had uncommitted changes). `--quick` shrinks every workload so a run finishes in under two minutes, for
 * development. A failing benchmark is reported as failed and the others still run. Everything
 * started is stopped by PID and the scratch directory is removed on the way out, also on Ctrl-C.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from './cli.ts';
import { runCold } from './cold.ts';
import { runControlPlane } from './control-plane.ts';
import { runDensity } from './density.ts';
import { runFresh } from './fresh.ts';
import { runOperations } from './operations.ts';
import { runGuestNetwork } from './guest-network.ts';
import { describeMachine, describeSource } from './lib/machine.ts';
import { stopAll } from './lib/procs.ts';
import { renderMarkdown } from './lib/report.ts';
import { ROOT } from './lib/servers.ts';
import type { BenchContext, BenchResult } from './lib/types.ts';
import { runRegistry } from './registry.ts';
import { runWarm } from './warm.ts';

const BENCHES: Array<{ id: string; title: string; run: (ctx: BenchContext) => Promise<BenchResult> }> = [
  { id: 'warm', title: 'Invoke path, warm', run: runWarm },
  { id: 'cold', title: 'Invoke path, cold', run: runCold },
  { id: 'fresh', title: 'Fresh isolation', run: runFresh },
  { id: 'control-plane', title: 'Control plane', run: runControlPlane },
  { id: 'registry', title: 'Registry', run: runRegistry },
  { id: 'density', title: 'Density', run: runDensity },
  { id: 'cli', title: 'CLI start-up', run: runCli },
  { id: 'guest-network', title: 'Network and guest', run: runGuestNetwork },
  { id: 'operations', title: 'Operations under traffic', run: runOperations },
];

function parseArgs(argv: string[]): { quick: boolean; only: Set<string> | null; out: string | null } {
  const quick = argv.includes('--quick');
  const onlyArg = argv.find((a) => a.startsWith('--only='));
  const outArg = argv.find((a) => a.startsWith('--out='));
  return { quick, only: onlyArg ? new Set(onlyArg.slice(7).split(',')) : null, out: outArg ? outArg.slice(6) : null };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const machine = describeMachine();
  // Read before anything runs, so the figures are tied to the code that produced them.
  const source = describeSource();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ign-bench-'));
  const started = performance.now();
  const log = (msg: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    log('interrupted: stopping what the bench started');
    void stopAll().finally(() => {
      rmSync(tmp, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const results: BenchResult[] = [];
  try {
    for (const b of BENCHES) {
      if (args.only && !args.only.has(b.id)) continue;
      log(`${b.title}…`);
      const t = performance.now();
      const dir = path.join(tmp, b.id);
      mkdirSync(dir, { recursive: true });
      let r: BenchResult;
      try {
        r = await b.run({ quick: args.quick, tmp: dir, log });
      } catch (err) {
        log(`${b.title} failed: ${(err as Error).stack ?? err}`);
        r = { id: b.id, title: b.title, measures: '', workload: '', runs: '', tables: [], goals: [], notes: [], raw: null, error: (err as Error).message.split('\n')[0] };
      }
      // Whatever a benchmark left running is stopped before the next one measures anything.
      const left = await stopAll();
      if (left) r.notes.push(`${left} process(es) were still running after this benchmark and were stopped.`);
      r.seconds = (performance.now() - t) / 1000;
      results.push(r);
      log(`${b.title}: ${r.seconds.toFixed(0)} s`);
    }
  } finally {
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
  machine.loadAverageEnd = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const seconds = (performance.now() - started) / 1000;
  const outDir = args.out ?? ROOT;
  const json = { generatedBy: 'scripts/bench/main.ts', mode: args.quick ? 'quick' : 'full', seconds, source, machine, results };
  mkdirSync(path.join(outDir, 'bench'), { recursive: true });
  mkdirSync(path.join(outDir, 'docs'), { recursive: true });
  writeFileSync(path.join(outDir, 'bench', 'results.json'), JSON.stringify(json, null, 2) + '\n');
  writeFileSync(path.join(outDir, 'docs', 'BENCHMARKS.md'), renderMarkdown({ machine, source, results, quick: args.quick, seconds }));
  log(`wrote ${path.join(outDir, 'docs', 'BENCHMARKS.md')} and ${path.join(outDir, 'bench', 'results.json')} (${seconds.toFixed(0)} s)`);
  return results.some((r) => r.error) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
