/**
 * Registry measurements for the bench suite (docs/BENCHMARKS.md): import throughput next to a plain
 * copy of the same file on the same disk (read, write, one fsync; no hashing), in alternating
 * rounds, and the machine's single-core SHA-256 rate, all measured in the same call; disk used by
 * 1, 10 and 100 fork snapshots of one golden snapshot; and push/pull throughput to an OCI registry
 * when one is given. Everything runs in a fresh registry under `tmpDir`, removed at the end.
 */
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { closeSync, fsyncSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../../../platform/store/db.ts';
import { Registry } from '../../../platform/registry/registry.ts';
import { registryMigrations } from '../../../platform/registry/schema.ts';
import { median } from '../lib/stats.ts';

export interface BenchRegistryOptions {
  /** File sizes to import, in MiB (default [128, 1024]). */
  sizesMiB?: number[];
  /** Rounds per size, each one plain copy and one import of the same file, their order alternating (default 3). */
  rounds?: number;
  /** Where to create the scratch registry (a directory on the disk to measure). */
  tmpDir: string;
  /** Fork counts to measure disk use for (default [1, 10, 100]). */
  forkCounts?: number[];
  /** Memory file of the golden snapshot in the fork measurement (default 64 MiB, 8 MiB of it touched). */
  forkMemoryMiB?: number;
  forkTouchedMiB?: number;
  /** Pages (4 KiB) each fork dirties in its own memory file (default 64). */
  forkDirtyPages?: number;
  /** `host:port/repo` of an OCI registry for push/pull throughput (plain HTTP on loopback). */
  registryUrl?: string;
  insecure?: boolean;
}

export interface ImportRun {
  sizeMiB: number;
  /** Seconds of each round's import and plain copy, in round order. */
  importSeconds: number[];
  copySeconds: number[];
  /** Median import and copy rates over the rounds. */
  mibPerSecond: number;
  copyMiBPerSecond: number;
  /** Median over the rounds of import rate ÷ copy rate of the same round: what the goal judges. */
  ofCopy: number;
  /** Every round's bytes over every round's seconds, import against copy. */
  ofCopyPooled: number;
  /** Median import rate as a fraction of the single-core SHA-256 rate. */
  ofSha256: number;
}

export interface ForkRun {
  forks: number;
  /** Forks that share the golden snapshot's files (same digests): what a fork of an unchanged VM costs. */
  sharedDiskBytes: number;
  /** Forks that each carry their own memory file with `dirtyPages` changed pages. */
  dirtyDiskBytes: number;
  /** Logical bytes the dirty forks' snapshots describe (what a copy per fork would cost, before holes). */
  dirtyLogicalBytes: number;
}

export interface BenchRegistryResult {
  sha256MiBPerSecond: number;
  imports: ImportRun[];
  forks: { goldenMemoryMiB: number; touchedMiB: number; dirtyPages: number; goldenDiskBytes: number; runs: ForkRun[] };
  remote?: { sizeMiB: number; pushMiBPerSecond: number; pullMiBPerSecond: number };
}

const MiB = 1024 * 1024;

/** Single-core SHA-256 over an in-memory buffer, in MiB/s (at least ~1 s of hashing). */
export function measureSha256(): number {
  const buf = randomBytes(16 * MiB);
  let bytes = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < 1) {
    createHash('sha256').update(buf).digest();
    bytes += buf.length;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return bytes / MiB / elapsed;
}

function writeRandomFile(file: string, sizeMiB: number): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(4 * MiB);
  try {
    for (let i = 0; i < sizeMiB; i += 4) {
      randomFillSync(chunk);
      writeSync(fd, chunk, 0, Math.min(4, sizeMiB - i) * MiB);
    }
    // Written back now, so neither contender pays for the source's writeback while it is measured.
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * A plain copy of `src` into `dst` (4 MiB reads and writes, one fsync, no hashing), in seconds: the
 * reference the import is judged against, what the disk and the page cache allow without a digest.
 */
export function plainCopy(src: string, dst: string): number {
  const buf = Buffer.allocUnsafe(4 * MiB);
  const start = process.hrtime.bigint();
  const inFd = openSync(src, 'r');
  const outFd = openSync(dst, 'wx');
  try {
    for (;;) {
      const n = readSync(inFd, buf, 0, buf.length, null);
      if (n === 0) break;
      for (let off = 0; off < n; ) off += writeSync(outFd, buf, off, n - off);
    }
    fsyncSync(outFd);
  } finally {
    closeSync(outFd);
    closeSync(inFd);
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Bytes allocated under a directory (holes excluded). */
export function diskUsage(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) total += diskUsage(p);
    else if (entry.isFile()) total += statSync(p).blocks * 512;
  }
  return total;
}

function openRegistry(dir: string): { registry: Registry; close(): void } {
  const store = openDatabase(path.join(dir, 'ignition.db'), registryMigrations);
  return { registry: new Registry({ root: path.join(dir, 'registry'), store }), close: () => store.close() };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = process.hrtime.bigint();
  const r = await fn();
  return [r, Number(process.hrtime.bigint() - start) / 1e9];
}

export async function benchRegistry(options: BenchRegistryOptions): Promise<BenchRegistryResult> {
  const root = mkdtempSync(path.join(options.tmpDir, 'ign-bench-registry-'));
  try {
    const sha = measureSha256();
    const imports: ImportRun[] = [];
    const rounds = Math.max(1, options.rounds ?? 3);
    for (const sizeMiB of options.sizesMiB ?? [128, 1024]) {
      const dir = mkdtempSync(path.join(root, 'import-'));
      const src = path.join(dir, 'src.bin');
      writeRandomFile(src, sizeMiB);
      const importSeconds: number[] = [];
      const copySeconds: number[] = [];
      const importOnce = async () => {
        const regDir = mkdtempSync(path.join(dir, 'registry-'));
        const { registry, close } = openRegistry(regDir);
        try {
          importSeconds.push((await timed(() => registry.blobs.importFile(src)))[1]);
        } finally {
          close();
          rmSync(regDir, { recursive: true, force: true });
        }
      };
      const copyOnce = () => {
        const dst = path.join(dir, 'copy.bin');
        copySeconds.push(plainCopy(src, dst));
        rmSync(dst, { force: true });
      };
      // Untimed: the first operation after the source's write runs slower (the disk is still busy
      // with it), which would favour whichever contender does not go first in round 0.
      copyOnce();
      copySeconds.pop();
      // Same source, same disk, back to back; the order alternates so neither always runs first.
      for (let i = 0; i < rounds; i++) {
        if (i % 2 === 0) {
          copyOnce();
          await importOnce();
        } else {
          await importOnce();
          copyOnce();
        }
      }
      rmSync(dir, { recursive: true, force: true });
      const rate = median(importSeconds.map((s) => sizeMiB / s));
      imports.push({
        sizeMiB,
        importSeconds,
        copySeconds,
        mibPerSecond: rate,
        copyMiBPerSecond: median(copySeconds.map((s) => sizeMiB / s)),
        ofCopy: median(importSeconds.map((s, i) => copySeconds[i] / s)),
        ofCopyPooled: sum(copySeconds) / sum(importSeconds),
        ofSha256: rate / sha,
      });
    }

    const memMiB = options.forkMemoryMiB ?? 64;
    const touchedMiB = Math.min(memMiB, options.forkTouchedMiB ?? 8);
    const dirtyPages = options.forkDirtyPages ?? 64;
    // A golden memory image: mostly zero pages, `touchedMiB` of data spread over it.
    const memory = Buffer.alloc(memMiB * MiB);
    for (let p = 0; p < (touchedMiB * MiB) / 4096; p++) randomFillSync(memory, Math.floor((p * memory.length) / ((touchedMiB * MiB) / 4096) / 4096) * 4096, 4096);
    const runs: ForkRun[] = [];
    let goldenDiskBytes = 0;
    for (const forks of options.forkCounts ?? [1, 10, 100]) {
      const dir = mkdtempSync(path.join(root, 'forks-'));
      const { registry, close } = openRegistry(dir);
      const lease = registry.pins.lease();
      const mem = await registry.blobs.importBuffer(memory);
      const state = await registry.blobs.importBuffer(randomBytes(64 * 1024));
      lease.release();
      const golden = await registry.createSnapshot({ kind: 'golden', driver: 'process', files: { memory: { digest: mem.digest }, state: { digest: state.digest } } });
      const blobsDir = path.join(dir, 'registry');
      goldenDiskBytes = diskUsage(blobsDir);
      for (let i = 0; i < forks; i++) {
        await registry.createSnapshot({ kind: 'fork', driver: 'process', parent: golden.id, files: { memory: { digest: mem.digest }, state: { digest: state.digest } } });
      }
      const sharedDiskBytes = diskUsage(blobsDir) - goldenDiskBytes;
      let dirtyLogicalBytes = 0;
      for (let i = 0; i < forks; i++) {
        const own = Buffer.from(memory);
        for (let p = 0; p < dirtyPages; p++) randomFillSync(own, Math.floor(Math.random() * (own.length / 4096)) * 4096, 4096);
        const fl = registry.pins.lease();
        const m = await registry.blobs.importBuffer(own, { beforePublish: (d) => fl.pin(d) });
        await registry.createSnapshot({ kind: 'fork', driver: 'process', parent: golden.id, files: { memory: { digest: m.digest }, state: { digest: state.digest } } });
        fl.release();
        dirtyLogicalBytes += own.length + 64 * 1024;
      }
      const dirtyDiskBytes = diskUsage(blobsDir) - goldenDiskBytes - sharedDiskBytes;
      runs.push({ forks, sharedDiskBytes, dirtyDiskBytes, dirtyLogicalBytes });
      close();
      rmSync(dir, { recursive: true, force: true });
    }

    const result: BenchRegistryResult = { sha256MiBPerSecond: sha, imports, forks: { goldenMemoryMiB: memMiB, touchedMiB, dirtyPages, goldenDiskBytes, runs } };

    if (options.registryUrl) {
      const sizeMiB = Math.min(...(options.sizesMiB ?? [128]), 128);
      const a = openRegistry(mkdtempSync(path.join(root, 'push-')));
      const bDir = mkdtempSync(path.join(root, 'pull-'));
      const b = openRegistry(bDir);
      try {
        const src = path.join(root, 'push.bin');
        writeRandomFile(src, sizeMiB);
        await a.registry.createSnapshot({ name: 'bench', kind: 'manual', driver: 'process', files: { memory: src } });
        const tag = `${options.registryUrl}:bench-${Date.now().toString(36)}`;
        const [, pushS] = await timed(() => a.registry.push('bench', tag, { insecure: options.insecure }));
        const [, pullS] = await timed(() => b.registry.pull(tag, { insecure: options.insecure }));
        result.remote = { sizeMiB, pushMiBPerSecond: sizeMiB / pushS, pullMiBPerSecond: sizeMiB / pullS };
      } finally {
        a.close();
        b.close();
      }
    }
    return result;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
