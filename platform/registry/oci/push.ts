/**
 * Push: a snapshot to `host/repo:tag` over the OCI distribution API.
 *
 * For each blob (layers, then the config): HEAD it and skip it when the repository has it (this
 * is what makes a retried push resume where it failed); else try a cross-repository mount from a
 * repository known to hold it; else upload it, monolithically (POST, then PUT with the body) up to
 * `chunkSize`, in chunks above (POST, PATCH with Content-Range per chunk, PUT ?digest=). The
 * manifest goes last, so the tag never points at an artifact with missing blobs.
 */
import { RegistryBadRequest, RegistryRemoteError } from '../errors.ts';
import type { Registry } from '../registry.ts';
import type { Digest } from '../digest.ts';
import type { Credentials } from './auth.ts';
import { DistributionClient } from './client.ts';
import { OCI_MANIFEST, snapshotArtifact } from './media-types.ts';
import { formatReference, parseReference } from './reference.ts';
import { mountCandidates, recordRemoteBlobs } from './remote-blobs.ts';
import { chunksOf } from '../blob-writer.ts';
import { Readable } from 'node:stream';

export interface PushProgress {
  phase: 'skip' | 'mount' | 'upload' | 'manifest';
  digest: string;
  role: string;
  /** Bytes done so far over the whole push (skipped and mounted blobs count as done). */
  bytes: number;
  totalBytes: number;
}

export interface PushOptions {
  insecure?: boolean;
  auth?: Credentials;
  onProgress?: (p: PushProgress) => void;
  /** Blobs larger than this are uploaded in chunks of this size (default 16 MiB). */
  chunkSize?: number;
  /** A repository on the same registry to try mounting blobs from (besides the ones we know of). */
  mountFrom?: string;
}

export interface PushResult {
  reference: string;
  manifestDigest: Digest;
  uploaded: number;
  skipped: number;
  mounted: number;
  /** Bytes actually sent over the network for blobs. */
  bytesSent: number;
}

export async function pushSnapshot(registry: Registry, snapshotRef: string, remote: string, options: PushOptions = {}): Promise<PushResult> {
  const snap = registry.get(snapshotRef);
  const ref = parseReference(remote);
  if (ref.digest) throw RegistryBadRequest(`push to ${remote}: name a tag, not a digest (the digest follows from the content)`);
  const tag = ref.tag ?? 'latest';
  const art = snapshotArtifact(snap);
  const chunkSize = Math.max(1024 * 1024, options.chunkSize ?? 16 * 1024 * 1024);
  const fromRepos = options.mountFrom ? [parseReference(`${ref.host}/${options.mountFrom}`).repository] : [];
  const client = new DistributionClient(ref, {
    insecure: options.insecure,
    auth: options.auth,
    push: true,
    scopes: fromRepos.map((r) => `repository:${r}:pull`),
  });
  const blobs = [...art.layers.filter((l, i) => art.layers.findIndex((x) => x.digest === l.digest) === i), { ...art.configDescriptor, role: 'config' }];
  for (const l of art.layers) registry.blobPath(l.digest);
  const totalBytes = blobs.reduce((n, b) => n + b.size, 0);
  const result: PushResult = {
    reference: `${formatReference({ ...ref, tag, digest: null })}`,
    manifestDigest: art.manifestDigest,
    uploaded: 0,
    skipped: 0,
    mounted: 0,
    bytesSent: 0,
  };
  let bytes = 0;
  const progress = (phase: PushProgress['phase'], b: { digest: string; role: string }) =>
    options.onProgress?.({ phase, digest: b.digest, role: b.role, bytes, totalBytes });

  try {
    for (const blob of blobs) {
      const open = (start = 0, end = blob.size - 1): Readable =>
        blob.role === 'config' ? Readable.from(chunksOf(art.config.subarray(start, end + 1))) : registry.blobs.read(blob.digest, { start, end });
      const remoteSize = await client.blobSize(blob.digest);
      if (remoteSize === blob.size) {
        bytes += blob.size;
        result.skipped++;
        progress('skip', blob);
        continue;
      }
      let location: URL | null = null;
      const from = [...new Set([...fromRepos, ...mountCandidates(registry.store.db, ref.host, ref.repository, blob.digest)])][0];
      if (from) {
        const r = await client.startUpload({ digest: blob.digest, from });
        if (r.mounted) {
          bytes += blob.size;
          result.mounted++;
          progress('mount', blob);
          continue;
        }
        // 202: the registry could not mount and opened an ordinary upload instead; use it.
        location = r.location;
      }
      location ??= ((await client.startUpload()) as { location: URL }).location;
      if (blob.size <= chunkSize) {
        await client.finishUpload(location, blob.digest, { length: blob.size, stream: () => counted(open(), blob) });
      } else {
        for (let start = 0; start < blob.size; start += chunkSize) {
          const length = Math.min(chunkSize, blob.size - start);
          location = await client.uploadChunk(location, start, length, () => counted(open(start, start + length - 1), blob));
        }
        await client.finishUpload(location, blob.digest);
      }
      result.uploaded++;
    }
    const stored = await client.putManifest(tag, art.manifestBytes, OCI_MANIFEST);
    if (stored && stored !== art.manifestDigest) {
      throw RegistryRemoteError(`the registry stored the manifest of ${snap.id} as ${stored}, expected ${art.manifestDigest}`);
    }
    progress('manifest', { digest: art.manifestDigest, role: 'manifest' });
    recordRemoteBlobs(
      registry.store.db,
      ref.host,
      ref.repository,
      blobs.map((b) => b.digest),
    );
    return result;
  } finally {
    await client.close();
  }

  // Counts bytes as undici pulls them, for progress in bytes. (A 'data' listener would switch
  // the stream to flowing mode and lose bytes before undici reads them.)
  async function* counted(stream: Readable, blob: { digest: string; role: string }): AsyncGenerator<Buffer> {
    for await (const c of stream as AsyncIterable<Buffer>) {
      bytes += c.length;
      result.bytesSent += c.length;
      progress('upload', blob);
      yield c;
    }
  }
}
