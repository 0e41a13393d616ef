/**
 * Reference-counted garbage collection of blobs.
 *
 * A blob is garbage when no snapshot's file row names it and no live lease pins it. Each deletion
 * happens inside its own IMMEDIATE transaction that re-checks both conditions, so it serialises
 * with pin inserts and snapshot inserts (in this process and in others sharing the database): an
 * import either pinned the digest before the check (the blob is kept) or finds it gone afterwards
 * (and writes it again). Short transactions keep other writers waiting milliseconds, not seconds.
 */
import type { Digest } from './digest.ts';
import type { Registry } from './registry.ts';

export interface GcOptions {
  /** Report what would be freed without deleting anything. */
  dryRun?: boolean;
}

export interface GcReport {
  /** Digests deleted (or that would be, in a dry run). */
  removed: Digest[];
  /** Logical bytes of the removed blobs. */
  freedBytes: number;
  /** Bytes those blobs occupied on disk (holes excluded). */
  freedDiskBytes: number;
  /** Blobs kept because a snapshot refers to them. */
  kept: number;
  /** Unreferenced blobs kept because an import in progress pinned them. */
  pinned: Digest[];
  /** Temp files of dead imports removed. */
  tempsRemoved: number;
  /** Stale pins cleared. */
  pinsCleared: number;
  dryRun: boolean;
}

export function collectGarbage(registry: Registry, options: GcOptions = {}): GcReport {
  const { blobs, catalogue, pins, store } = registry;
  const dryRun = options.dryRun ?? false;
  const report: GcReport = { removed: [], freedBytes: 0, freedDiskBytes: 0, kept: 0, pinned: [], tempsRemoved: 0, pinsCleared: 0, dryRun };
  if (!dryRun) {
    report.tempsRemoved = blobs.sweepTemps();
    report.pinsCleared = pins.clearStale();
  }
  for (const digest of [...blobs.list()]) {
    const collectOne = store.sqlite.transaction(() => {
      if (catalogue.isReferenced(digest)) return 'kept';
      if (pins.isPinned(digest)) return 'pinned';
      const st = blobs.stat(digest);
      if (!st) return 'gone';
      if (!dryRun) blobs.delete(digest);
      report.freedBytes += st.size;
      report.freedDiskBytes += st.diskBytes;
      return 'removed';
    });
    const outcome = collectOne.immediate();
    if (outcome === 'kept') report.kept++;
    else if (outcome === 'pinned') report.pinned.push(digest);
    else if (outcome === 'removed') report.removed.push(digest);
  }
  return report;
}
