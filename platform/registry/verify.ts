/**
 * Verification: re-hash every blob in the store and compare with its name, then relate the
 * damage to snapshots. Missing blobs are found from the catalogue side (a file row whose blob is
 * absent), corrupt ones from the disk side (content that no longer hashes to its name). A report
 * with `ok: false` is what makes `ignition verify` exit non-zero.
 */
import { createHash } from 'node:crypto';
import type { Digest } from './digest.ts';
import type { Registry } from './registry.ts';

export interface VerifyOptions {
  /** Called after each blob with cumulative bytes hashed. */
  onProgress?: (p: { blobs: number; totalBlobs: number; bytes: number }) => void;
}

export interface BlobProblem {
  digest: Digest;
  /** Ids of the snapshots that refer to the blob (empty for an unreferenced corrupt blob). */
  snapshots: string[];
  /** For a corrupt blob: what its content hashes to now, and its size on disk. */
  actual?: Digest;
  size?: number;
  error?: string;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  bytes: number;
  missing: BlobProblem[];
  corrupt: BlobProblem[];
  /** Ids of every snapshot that cannot be restored because of the problems above. */
  broken: string[];
}

export async function verifyBlobs(registry: Registry, options: VerifyOptions = {}): Promise<VerifyReport> {
  const refs = registry.catalogue.references();
  const onDisk = new Set<Digest>(registry.blobs.list());
  const report: VerifyReport = { ok: true, checked: 0, bytes: 0, missing: [], corrupt: [], broken: [] };
  for (const [digest, snapshots] of refs) {
    if (!onDisk.has(digest)) report.missing.push({ digest, snapshots: [...new Set(snapshots)] });
  }
  const total = onDisk.size;
  for (const digest of onDisk) {
    const expectedSize = registry.catalogue.sizeOf(digest);
    try {
      const { hex, size } = await hashStream(registry.blobs.read(digest));
      report.bytes += size;
      const actual = `sha256:${hex}` as Digest;
      if (actual !== digest || (expectedSize !== null && expectedSize !== size)) {
        report.corrupt.push({ digest, snapshots: [...new Set(refs.get(digest) ?? [])], actual, size });
      }
    } catch (err) {
      // Vanished between the listing and the read (a concurrent GC): only a problem if referenced.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as { code?: string }).code === 'registry_blob_not_found') {
        if (refs.has(digest)) report.missing.push({ digest, snapshots: [...new Set(refs.get(digest))] });
      } else {
        report.corrupt.push({ digest, snapshots: [...new Set(refs.get(digest) ?? [])], error: (err as Error).message });
      }
    }
    report.checked++;
    options.onProgress?.({ blobs: report.checked, totalBlobs: total, bytes: report.bytes });
  }
  report.broken = [...new Set([...report.missing, ...report.corrupt].flatMap((p) => p.snapshots))].sort();
  report.ok = report.missing.length === 0 && report.corrupt.length === 0;
  return report;
}

async function hashStream(stream: AsyncIterable<Buffer>): Promise<{ hex: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { hex: hash.digest('hex'), size };
}
