/**
 * Turns an OCI artifact (a manifest plus a way to reach its blobs) into a catalogue snapshot.
 * Shared by layout import (directory or tar) and pull, which differ only in where blobs come from.
 *
 * Order: parse and check the manifest, read and check the config, then import each layer under a
 * lease (skipping layers already in the store: that is what makes a retried pull resume), then
 * write the snapshot row. A snapshot with the same id already here is returned as it is: its
 * content is fixed by the id, so a second pull or import is a no-op.
 */
import type { BlobInfo, ImportOptions } from '../blob-store.ts';
import { RegistryDigestMismatch, RegistryInvalidLayout } from '../errors.ts';
import type { Registry } from '../registry.ts';
import type { Snapshot, SnapshotFile } from '../types.ts';
import { parseSnapshotConfig, parseSnapshotManifest, sha256Digest, type Descriptor } from './media-types.ts';

/** Largest manifest or config blob accepted (they are small JSON documents). */
export const MAX_SMALL_BLOB = 4 * 1024 * 1024;

export interface BlobSource {
  /** Where the artifact comes from, for error messages (a path or a URL). */
  where: string;
  /** The bytes of a small blob (the config); the caller verifies the digest. */
  readSmall(desc: Descriptor): Promise<Buffer>;
  /** Imports a layer into the registry's store; must pass `options` through (digest check, pin). */
  importLayer(desc: Descriptor, options: ImportOptions): Promise<BlobInfo>;
}

export interface MaterializeOptions {
  /** Local name for the snapshot; default: its original name when free here, else none. */
  name?: string | null;
  tags?: string[];
  /** Bytes imported (or skipped because present) so far, over all layers. */
  onProgress?: (p: { phase: 'download' | 'skip'; role: string; digest: string; bytes: number; totalBytes: number }) => void;
}

export interface Materialized {
  snapshot: Snapshot;
  /** True when the snapshot was already in the catalogue (nothing imported). */
  existed: boolean;
  /** Layers fetched and layers found already present. */
  imported: number;
  skipped: number;
}

export async function materialize(registry: Registry, manifestBytes: Buffer, source: BlobSource, options: MaterializeOptions = {}): Promise<Materialized> {
  const { layers } = parseSnapshotManifest(manifestBytes, source.where);
  const manifest = JSON.parse(manifestBytes.toString('utf8')) as { config: Descriptor };
  if (manifest.config.size > MAX_SMALL_BLOB) throw RegistryInvalidLayout(`the snapshot config at ${source.where} is larger than ${MAX_SMALL_BLOB} bytes`);
  const configBytes = await source.readSmall(manifest.config);
  const actual = sha256Digest(configBytes);
  if (actual !== manifest.config.digest) {
    throw RegistryDigestMismatch(`the snapshot config from ${source.where} hashes to ${actual}, not ${manifest.config.digest}`, {
      data: { expected: manifest.config.digest, actual },
    });
  }
  const cfg = parseSnapshotConfig(configBytes, layers, source.where);

  const existing = registry.catalogue.find(cfg.id);
  if (existing && existing.id === cfg.id) {
    for (const tag of options.tags ?? []) registry.catalogue.tag(existing.id, tag);
    return { snapshot: registry.catalogue.get(existing.id), existed: true, imported: 0, skipped: layers.length };
  }

  const totalBytes = layers.reduce((n, l) => n + l.size, 0);
  let bytes = 0;
  let imported = 0;
  let skipped = 0;
  const lease = registry.pins.lease();
  try {
    const files: Record<string, SnapshotFile> = {};
    for (const layer of layers) {
      // Pin before looking: a GC between the check and the snapshot row must not take it.
      lease.pin(layer.digest);
      const present = registry.blobs.stat(layer.digest);
      if (present && present.size === layer.size) {
        bytes += layer.size;
        skipped++;
        options.onProgress?.({ phase: 'skip', role: layer.role, digest: layer.digest, bytes, totalBytes });
      } else {
        const info = await source.importLayer(layer, {
          expectedDigest: layer.digest,
          beforePublish: (d) => lease.pin(d),
          onBytes: (n) => {
            bytes += n;
            options.onProgress?.({ phase: 'download', role: layer.role, digest: layer.digest, bytes, totalBytes });
          },
        });
        if (info.size !== layer.size) {
          throw RegistryDigestMismatch(`layer "${layer.role}" from ${source.where} is ${info.size} bytes, the manifest says ${layer.size}`);
        }
        imported++;
      }
      files[layer.role] = { digest: layer.digest, size: layer.size };
    }
    let name = options.name === undefined ? cfg.name : options.name;
    if (options.name === undefined && name && registry.catalogue.find(name)) name = null;
    const snapshot = registry.catalogue.create({
      id: cfg.id,
      name,
      tags: options.tags,
      parentId: cfg.parentId,
      kind: cfg.kind,
      driver: cfg.driver,
      config: cfg.config,
      labels: cfg.labels,
      files,
      createdAt: cfg.createdAt,
    });
    return { snapshot, existed: false, imported, skipped };
  } finally {
    lease.release();
  }
}
