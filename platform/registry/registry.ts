/**
 * The snapshot registry: the blob store, the catalogue and the pins put together. This is the
 * object the daemon builds once (`new Registry({ root, store })`) and hands to the deploy flow,
 * the routes and the CLI.
 *
 * Order of effects in `createSnapshot`, which is what keeps faults harmless:
 *   1. take a lease; 2. import each file (hash while copying, atomic publish), pinning each digest
 *   before it is published; 3. write the snapshot row and its file rows in one transaction;
 *   4. release the lease.
 * A crash before 3 leaves blobs nobody refers to (GC frees them) and temp files of a dead process
 * (swept when the registry is opened next, or by GC); it never leaves a half-visible snapshot.
 */
import path from 'node:path';
import type { Store } from '../store/db.ts';
import { BlobStore, type ImportOptions } from './blob-store.ts';
import { Catalogue, type ListFilter } from './catalogue.ts';
import { assertDigest, assertRole, assertSnapshotName, assertTag, type Digest } from './digest.ts';
import { RegistryBadRequest, RegistryBlobNotFound, RegistryConflict } from './errors.ts';
import { collectGarbage, type GcOptions, type GcReport } from './gc.ts';
import { buildTree, type TreeNode } from './lineage.ts';
import { Pins, type Lease } from './pins.ts';
import { assertConfig, assertDriver, assertKind, assertLabels, type Snapshot, type SnapshotDriver, type SnapshotFile, type SnapshotKind } from './types.ts';
import { verifyBlobs, type VerifyOptions, type VerifyReport } from './verify.ts';
import { exportLayout, importLayout, type ExportOptions, type ExportResult, type ImportLayoutOptions } from './oci/layout.ts';
import type { Materialized } from './oci/materialize.ts';
import { pushSnapshot, type PushOptions, type PushResult } from './oci/push.ts';
import { pullSnapshot, type PullOptions, type PullResult } from './oci/pull.ts';

/** A file to put in a snapshot: a path on disk to import, or a blob already in the store. */
export type FileSource = string | { digest: string };

export interface CreateSnapshotInput {
  name?: string | null;
  tags?: string[];
  kind: SnapshotKind;
  driver: SnapshotDriver;
  /** Id, name or tag of the snapshot this one was taken from. */
  parent?: string | null;
  config?: Record<string, unknown>;
  labels?: Record<string, string>;
  files: Record<string, FileSource>;
  /** Progress of the imports, in bytes hashed so far across all files. */
  onProgress?: (p: { role: string; bytes: number; totalBytes: number }) => void;
}

export interface RegistryOptions {
  /** Directory of the blob store (e.g. `<data dir>/registry`). */
  root: string;
  /** The opened database; `registryMigrations` must have been applied. */
  store: Store;
}

export class Registry {
  readonly root: string;
  readonly blobs: BlobStore;
  readonly catalogue: Catalogue;
  readonly pins: Pins;
  readonly store: Store;

  constructor(options: RegistryOptions) {
    this.root = path.resolve(options.root);
    this.store = options.store;
    this.blobs = new BlobStore(this.root);
    this.catalogue = new Catalogue(options.store);
    this.pins = new Pins(options.store);
    // Leftovers of a process killed mid-import: its temp files and pins.
    this.blobs.sweepTemps();
    this.pins.clearStale();
  }

  /** Imports the files (paths) or adopts the blobs ({digest}) and records the snapshot. */
  async createSnapshot(input: CreateSnapshotInput): Promise<Snapshot> {
    // Validate everything cheap before the expensive part, so bad input costs no I/O.
    if (input.name != null) assertSnapshotName(input.name);
    (input.tags ?? []).forEach(assertTag);
    assertKind(input.kind);
    assertDriver(input.driver);
    const labels = assertLabels(input.labels);
    const config = assertConfig(input.config);
    if (!input.files || typeof input.files !== 'object' || Object.keys(input.files).length === 0) {
      throw RegistryBadRequest('a snapshot needs at least one file');
    }
    for (const role of Object.keys(input.files)) assertRole(role);
    if (input.name != null && this.catalogue.find(input.name)) {
      throw RegistryConflict(`the name "${input.name}" is taken by another snapshot`, { data: { name: input.name } });
    }
    const parentId = input.parent ? this.catalogue.get(input.parent).id : null;

    const lease = this.pins.lease();
    try {
      const files = await this.importFiles(input.files, lease, input.onProgress);
      return this.catalogue.create({ name: input.name ?? null, tags: input.tags, kind: input.kind, driver: input.driver, parentId, config, labels, files });
    } finally {
      lease.release();
    }
  }

  /** Imports or adopts each file under `lease`. Used by createSnapshot and the OCI importers. */
  async importFiles(sources: Record<string, FileSource>, lease: Lease, onProgress?: CreateSnapshotInput['onProgress']): Promise<Record<string, SnapshotFile>> {
    const files: Record<string, SnapshotFile> = {};
    let bytes = 0;
    for (const [role, src] of Object.entries(sources)) {
      if (typeof src === 'string') {
        const opts: ImportOptions = {
          beforePublish: (d) => lease.pin(d),
          onBytes: onProgress ? (n) => onProgress({ role, bytes: (bytes += n), totalBytes: 0 }) : undefined,
        };
        const info = await this.blobs.importFile(src, opts);
        files[role] = info;
      } else if (src && typeof src === 'object' && 'digest' in src) {
        const digest = assertDigest(src.digest, `digest of file "${role}"`);
        // Pin first, then check: a GC that runs after the pin cannot take it any more.
        lease.pin(digest);
        const st = this.blobs.stat(digest);
        if (!st) throw RegistryBlobNotFound(`file "${role}" refers to blob ${digest}, which is not in the store`, { data: { role, digest } });
        files[role] = { digest, size: st.size };
      } else {
        throw RegistryBadRequest(`file "${role}" must be a path or {digest}`);
      }
    }
    return files;
  }

  /** Absolute paths of a snapshot's files by role (read-only; map or copy them, never write). */
  filePaths(snapshot: Snapshot | string): Record<string, string> {
    const snap = typeof snapshot === 'string' ? this.catalogue.get(snapshot) : snapshot;
    const out: Record<string, string> = {};
    for (const [role, f] of Object.entries(snap.files)) out[role] = this.blobs.path(f.digest);
    return out;
  }

  get(ref: string): Snapshot {
    return this.catalogue.get(ref);
  }

  find(ref: string): Snapshot | null {
    return this.catalogue.find(ref);
  }

  list(filter?: ListFilter): Snapshot[] {
    return this.catalogue.list(filter);
  }

  children(ref: string): Snapshot[] {
    return this.catalogue.children(this.catalogue.get(ref).id);
  }

  /** Removes a snapshot's record; its blobs are freed by the next `gc()`. */
  remove(ref: string, options: { force?: boolean } = {}): Snapshot {
    return this.catalogue.remove(ref, options);
  }

  tag(ref: string, tag: string): Snapshot {
    return this.catalogue.tag(ref, tag);
  }

  /** The lineage forest: base images → golden snapshots → forks. */
  tree(): TreeNode[] {
    return buildTree(this.catalogue.list());
  }

  /**
   * The last GC (not a dry run) and the last verification this process ran, whoever asked (the
   * API, the CLI through it, the web console), so the console can show them without running
   * either again. Kept in memory only: a restart forgets them.
   */
  lastGc: { at: string; report: GcReport } | null = null;
  lastVerify: { at: string; report: VerifyReport } | null = null;

  /** Frees blobs no snapshot refers to and no import has pinned. */
  gc(options: GcOptions = {}): GcReport {
    const report = collectGarbage(this, options);
    if (!report.dryRun) this.lastGc = { at: new Date().toISOString(), report };
    return report;
  }

  /** Re-hashes every blob; reports missing and corrupt ones and the snapshots they break. */
  async verify(options: VerifyOptions = {}): Promise<VerifyReport> {
    const report = await verifyBlobs(this, options);
    this.lastVerify = { at: new Date().toISOString(), report };
    return report;
  }

  /** Writes a snapshot as an OCI image layout: a directory, or a tar when `target` ends in .tar. */
  exportLayout(ref: string, target: string, options?: ExportOptions): Promise<ExportResult> {
    return exportLayout(this, ref, target, options);
  }

  /** Imports the snapshot(s) of an OCI image layout (directory or tar). */
  importLayout(source: string, options?: ImportLayoutOptions): Promise<Materialized[]> {
    return importLayout(this, source, options);
  }

  /** Pushes a snapshot to an OCI registry: `push('hello', 'registry.example:5000/fns/hello:v3')`. */
  push(ref: string, remote: string, options?: PushOptions): Promise<PushResult> {
    return pushSnapshot(this, ref, remote, options);
  }

  /** Pulls a snapshot from an OCI registry by tag or digest. */
  pull(remote: string, options?: PullOptions): Promise<PullResult> {
    return pullSnapshot(this, remote, options);
  }

  /** Resolves a digest to its blob path, throwing when it is absent. */
  blobPath(digest: Digest): string {
    if (!this.blobs.has(digest)) throw RegistryBlobNotFound(`blob ${digest} is not in the store`, { data: { digest } });
    return this.blobs.path(digest);
  }
}
