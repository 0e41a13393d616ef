/**
 * Benchmark 5, registry: import throughput of large files next to a plain copy of the same file on
 * the same disk, in alternating rounds of the same run (the goal: import ≥ 0.8× the copy), with
 * the single-core SHA-256 rate for information; disk used by 1, 10 and 100
 * forks of one golden snapshot, and push/pull throughput to a real OCI registry (Debian's
 * docker-registry on 127.0.0.1 with a temp filesystem store, stopped at the end). The
 * measurements themselves are measure/registry.ts; this module runs them and reports.
 */
import { execFileSync } from 'node:child_process';
import { benchRegistry, type BenchRegistryResult } from './measure/registry.ts';
import { startDistribution, type RunningRegistry } from '../../test/registry/distribution.ts';
import { fmt, mib, ratio } from './lib/stats.ts';
import { goal, type BenchContext, type BenchResult } from './lib/types.ts';

function hasDockerRegistry(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v docker-registry'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function runRegistry(ctx: BenchContext): Promise<BenchResult> {
  const sizesMiB = ctx.quick ? [128] : [128, 1024];
  const forkCounts = ctx.quick ? [1] : [1, 10, 100];
  const rounds = ctx.quick ? 3 : 5;
  let remote: RunningRegistry | null = null;
  const notes: string[] = [];
  let r: BenchRegistryResult;
  try {
    if (hasDockerRegistry()) remote = await startDistribution();
    else notes.push('Push/pull not measured: docker-registry is not installed (apt-get install -y docker-registry).');
    ctx.log('registry: import, forks, push/pull');
    r = await benchRegistry({ tmpDir: ctx.tmp, sizesMiB, rounds, forkCounts, registryUrl: remote ? `${remote.host}/bench/snap` : undefined, insecure: true });
  } finally {
    await remote?.stop();
  }
  // The goal holds for every size: the slowest size's median per-round ratio is judged.
  const worst = r.imports.reduce((a, b) => (b.ofCopy < a.ofCopy ? b : a));
  const serial = (copy: number) => 1 / (1 / copy + 1 / r.sha256MiBPerSecond);
  return {
    id: 'registry',
    title: 'Registry',
    measures: 'Import throughput of large files into the content-addressed blob store next to a plain copy of the same file on the same disk, measured in the same run; the single-core SHA-256 rate for information; disk used by forks of one golden snapshot; push and pull throughput to a local OCI registry.',
    workload: `Random (incompressible) files of ${sizesMiB.join(' and ')} MiB, written and fsynced first, then imported from the page cache (copied on the import worker thread, hashed back from the page cache while the fsync runs, rename; the first round's import starts the worker, later rounds reuse it) and copied plainly (4 MiB reads and writes, fsync, no hashing). Forks: a ${r.forks.goldenMemoryMiB} MiB golden memory file with ${r.forks.touchedMiB} MiB of data, forks either sharing its blobs or carrying their own memory file with ${r.forks.dirtyPages} dirty 4 KiB pages. Push/pull: a ${r.remote?.sizeMiB ?? 'n/a'} MiB snapshot to docker-registry (distribution v2) on 127.0.0.1 over plain HTTP, filesystem storage in a temp dir.`,
    runs: `${rounds} rounds per size after one untimed plain copy, each round one plain copy and one import of the same file back to back, the order alternating; rates are medians over the rounds, the ratio is the median of each round's import ÷ copy (pooled: all rounds' seconds summed). One SHA-256 measurement of at least 1 s, one push and one pull.`,
    tables: [
      {
        title: 'Import throughput',
        columns: ['file', 'import MiB/s', 'plain copy MiB/s', 'import ÷ copy (median per round)', 'import ÷ copy (pooled)', 'per round', 'single-core SHA-256 MiB/s', 'import ÷ SHA-256'],
        rows: r.imports.map((i) => [
          `${i.sizeMiB} MiB`,
          fmt(i.mibPerSecond, 0),
          fmt(i.copyMiBPerSecond, 0),
          ratio(i.ofCopy),
          ratio(i.ofCopyPooled),
          i.importSeconds.map((s, k) => ratio(i.copySeconds[k] / s)).join(', '),
          fmt(r.sha256MiBPerSecond, 0),
          ratio(i.ofSha256),
        ]),
      },
      {
        title: 'Disk used by forks of one golden snapshot (beyond the golden snapshot itself)',
        columns: ['forks', 'sharing the golden blobs', 'each with its own dirty memory file', 'logical size of those files'],
        rows: r.forks.runs.map((f) => [f.forks, mib(f.sharedDiskBytes), mib(f.dirtyDiskBytes), mib(f.dirtyLogicalBytes)]),
      },
      {
        title: 'OCI push/pull (local docker-registry)',
        columns: ['size', 'push MiB/s', 'pull MiB/s'],
        rows: r.remote ? [[`${r.remote.sizeMiB} MiB`, fmt(r.remote.pushMiBPerSecond, 0), fmt(r.remote.pullMiBPerSecond, 0)]] : [['not measured', '—', '—']],
      },
    ],
    goals: [
      goal(
        'registry import ≥ 0.8× a plain copy on the same disk',
        worst.ofCopy,
        '>=',
        0.8,
        '×',
        (m) =>
          `The ${worst.sizeMiB} MiB import ran at ${ratio(m)} of a plain copy of the same file (median per round; rounds from ${ratio(Math.min(...worst.importSeconds.map((s, k) => worst.copySeconds[k] / s)))} to ${ratio(Math.max(...worst.importSeconds.map((s, k) => worst.copySeconds[k] / s)))}): ${fmt(worst.mibPerSecond, 0)} MiB/s against ${fmt(worst.copyMiBPerSecond, 0)} MiB/s. Single-core SHA-256 ran at ${fmt(r.sha256MiBPerSecond, 0)} MiB/s; hashing and copying one after the other would reach ${fmt(serial(worst.copyMiBPerSecond), 0)} MiB/s (${ratio(serial(worst.copyMiBPerSecond) / worst.copyMiBPerSecond)} of the copy), so an import below that loses time beyond hashing and copying, and one between that and the goal does not overlap the hash with the I/O enough.`,
        { basis: `median per round, ${worst.sizeMiB} MiB`, also: { pooled: worst.ofCopyPooled } },
      ),
    ],
    notes: [`Golden snapshot on disk: ${mib(r.forks.goldenDiskBytes)}.`, ...notes],
    raw: { ...r, rounds },
  };
}
