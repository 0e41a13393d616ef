/**
 * OCI image layouts on disk: `exportLayout` writes a snapshot as an artifact into a directory
 * (`oci-layout`, `index.json`, `blobs/sha256/…`) or a `.tar` of one; `importLayout` reads either
 * back. Any OCI tool (oras, skopeo, crane) can carry the result to a registry and back.
 *
 * Export into an existing layout adds the snapshot's manifest to its index (replacing an entry of
 * the same ref name), so one layout can hold many snapshots. Blobs are hard-linked from the store
 * when the layout is on the same filesystem (no copy, and blobs are read-only anyway), otherwise
 * copied. A tar is written to a temp name and renamed, so a reader never sees half an archive.
 * Import verifies every blob's digest; a manifest naming a blob the layout lacks is refused.
 */
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { assertDigest, digestHex, isDigest, type Digest } from '../digest.ts';
import { RegistryBadRequest, RegistryDigestMismatch, RegistryInvalidLayout, RegistryIoError } from '../errors.ts';
import type { Registry } from '../registry.ts';
import { chunksOf } from '../blob-writer.ts';
import { materialize, MAX_SMALL_BLOB, type BlobSource, type Materialized, type MaterializeOptions } from './materialize.ts';
import {
  OCI_INDEX,
  OCI_LAYOUT_VERSION,
  OCI_MANIFEST,
  REF_NAME_ANNOTATION,
  SNAPSHOT_ARTIFACT,
  sha256Digest,
  snapshotArtifact,
  type Descriptor,
} from './media-types.ts';
import { tarEntries, tarStream, type TarEntryInput } from './tar.ts';

interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export interface ExportOptions {
  /** `org.opencontainers.image.ref.name` of the manifest; default: the snapshot's name or id. */
  refName?: string;
}

export interface ExportResult {
  path: string;
  format: 'dir' | 'tar';
  manifestDigest: Digest;
  refName: string;
  bytes: number;
}

/** Writes `ref` (id, name or tag) as an OCI image layout at `target` (a directory, or a path ending in .tar). */
export async function exportLayout(registry: Registry, ref: string, target: string, options: ExportOptions = {}): Promise<ExportResult> {
  const snap = registry.get(ref);
  const art = snapshotArtifact(snap);
  const refName = options.refName ?? snap.name ?? snap.id;
  for (const l of art.layers) registry.blobPath(l.digest);
  const manifestDesc = manifestDescriptor(art, refName);
  const bytes = art.layers.reduce((n, l) => n + l.size, 0) + art.config.length + art.manifestBytes.length;
  const abs = path.resolve(target);
  try {
    if (abs.endsWith('.tar')) {
      const entries = layoutTarEntries(registry, art, manifestDesc);
      await mkdir(path.dirname(abs), { recursive: true });
      const tmp = `${abs}.${randomBytes(4).toString('hex')}.part`;
      try {
        await pipeline(Readable.from(tarStream(entries)), createWriteStream(tmp, { flags: 'wx' }));
        await rename(tmp, abs);
      } finally {
        await rm(tmp, { force: true });
      }
      return { path: abs, format: 'tar', manifestDigest: art.manifestDigest, refName, bytes };
    }
    const blobDir = path.join(abs, 'blobs', 'sha256');
    await mkdir(blobDir, { recursive: true });
    await writeFile(path.join(abs, 'oci-layout'), JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    for (const l of uniqueLayers(art.layers)) await placeBlob(registry.blobs.path(l.digest), path.join(blobDir, digestHex(l.digest)), l.size);
    await writeFile(path.join(blobDir, digestHex(art.configDescriptor.digest)), art.config);
    await writeFile(path.join(blobDir, digestHex(art.manifestDigest)), art.manifestBytes);
    // The index goes last: a layout whose index names a manifest has all its blobs.
    const indexPath = path.join(abs, 'index.json');
    const index: OciIndex = existsSync(indexPath) ? await readIndex(abs) : { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== refName);
    index.manifests.push(manifestDesc);
    const tmpIndex = `${indexPath}.${randomBytes(4).toString('hex')}.part`;
    await writeFile(tmpIndex, JSON.stringify(index));
    await rename(tmpIndex, indexPath);
    return { path: abs, format: 'dir', manifestDigest: art.manifestDigest, refName, bytes };
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('registry_')) throw err;
    throw RegistryIoError(`exporting snapshot ${snap.id} to ${abs} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** The entries of a single-snapshot layout tar, in an order a streaming reader handles best. */
function layoutTarEntries(registry: Registry, art: ReturnType<typeof snapshotArtifact>, manifestDesc: Descriptor): TarEntryInput[] {
  const index: OciIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [manifestDesc] };
  const small = (name: string, buf: Buffer): TarEntryInput => ({ name, size: buf.length, body: () => [buf] });
  return [
    small('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }))),
    small('index.json', Buffer.from(JSON.stringify(index))),
    { name: 'blobs/', type: 'dir' },
    { name: 'blobs/sha256/', type: 'dir' },
    small(`blobs/sha256/${digestHex(art.manifestDigest)}`, art.manifestBytes),
    small(`blobs/sha256/${digestHex(art.configDescriptor.digest)}`, art.config),
    ...uniqueLayers(art.layers).map((l) => ({ name: `blobs/sha256/${digestHex(l.digest)}`, size: l.size, body: () => registry.blobs.read(l.digest) })),
  ];
}

/**
 * A snapshot's layout as a tar stream (for `GET /v1/snapshots/:id/layout.tar`): nothing is
 * written on the daemon's disk, the archive is produced as the client reads it.
 */
export function layoutTarStream(
  registry: Registry,
  ref: string,
  options: ExportOptions = {},
): { stream: AsyncGenerator<Buffer>; manifestDigest: Digest; size: number } {
  const snap = registry.get(ref);
  const art = snapshotArtifact(snap);
  for (const l of art.layers) registry.blobPath(l.digest);
  const manifestDesc = manifestDescriptor(art, options.refName ?? snap.name ?? snap.id);
  const entries = layoutTarEntries(registry, art, manifestDesc);
  // Exact archive size: headers, bodies padded to 512, two zero blocks at the end.
  const size = entries.reduce((n, e) => n + 512 + Math.ceil((e.size ?? 0) / 512) * 512, 0) + 1024;
  return { stream: tarStream(entries), manifestDigest: art.manifestDigest, size };
}

function manifestDescriptor(art: ReturnType<typeof snapshotArtifact>, refName: string): Descriptor {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,254}$/.test(refName) || refName.includes('..')) throw RegistryBadRequest(`ref name "${refName}" is not allowed`);
  return {
    mediaType: OCI_MANIFEST,
    digest: art.manifestDigest,
    size: art.manifestBytes.length,
    artifactType: SNAPSHOT_ARTIFACT,
    annotations: { [REF_NAME_ANNOTATION]: refName },
  };
}

function uniqueLayers<T extends { digest: Digest }>(layers: T[]): T[] {
  const seen = new Set<string>();
  return layers.filter((l) => !seen.has(l.digest) && seen.add(l.digest));
}

async function placeBlob(src: string, dst: string, size: number): Promise<void> {
  if (existsSync(dst) && statSync(dst).size === size) return;
  await rm(dst, { force: true });
  try {
    await link(src, dst);
  } catch {
    await copyFile(src, dst);
  }
}

export interface ImportLayoutOptions extends MaterializeOptions {
  /** Which manifest of the index to import (its ref name); default: every snapshot in the layout. */
  refName?: string;
}

/** Imports the snapshot(s) of an OCI layout directory or tar. */
export async function importLayout(registry: Registry, source: string, options: ImportLayoutOptions = {}): Promise<Materialized[]> {
  const abs = path.resolve(source);
  let st;
  try {
    st = statSync(abs);
  } catch (err) {
    throw RegistryBadRequest(`there is no OCI layout at ${abs}`, { cause: err });
  }
  return st.isDirectory() ? importDir(registry, abs, options) : importTar(registry, createReadStream(abs, { highWaterMark: 1024 * 1024 }), abs, options);
}

/** Imports the snapshot(s) of a layout tar read from a stream (an HTTP request body, say). */
export function importLayoutTar(
  registry: Registry,
  source: AsyncIterable<Buffer | Uint8Array>,
  where: string,
  options: ImportLayoutOptions = {},
): Promise<Materialized[]> {
  return importTar(registry, source, where, options);
}

async function readIndex(dir: string): Promise<OciIndex> {
  let index: OciIndex;
  try {
    index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as OciIndex;
  } catch (err) {
    throw RegistryInvalidLayout(`${dir} has no readable index.json`, { cause: err });
  }
  if (index?.schemaVersion !== 2 || !Array.isArray(index.manifests)) throw RegistryInvalidLayout(`${dir}/index.json is not an OCI image index`);
  return index;
}

function pickManifests(index: OciIndex, where: string, refName?: string): Descriptor[] {
  const picked = index.manifests.filter((m) => {
    if (m.mediaType !== OCI_MANIFEST || !isDigest(m.digest)) return false;
    if (refName !== undefined) return m.annotations?.[REF_NAME_ANNOTATION] === refName;
    return m.artifactType === undefined || m.artifactType === SNAPSHOT_ARTIFACT;
  });
  if (picked.length === 0) throw RegistryInvalidLayout(`${where} holds no Ignition snapshot${refName ? ` named "${refName}"` : ''}`);
  return picked;
}

async function importDir(registry: Registry, dir: string, options: ImportLayoutOptions): Promise<Materialized[]> {
  const blobFile = (d: Digest) => path.join(dir, 'blobs', 'sha256', digestHex(assertDigest(d)));
  const readSmall = async (desc: Descriptor) => {
    if (desc.size > MAX_SMALL_BLOB) throw RegistryInvalidLayout(`blob ${desc.digest} in ${dir} is too large for a manifest or config`);
    try {
      return await readFile(blobFile(desc.digest));
    } catch (err) {
      throw RegistryInvalidLayout(`the layout at ${dir} refers to blob ${desc.digest}, which it does not contain`, {
        cause: err,
        data: { digest: desc.digest },
      });
    }
  };
  const source: BlobSource = {
    where: dir,
    readSmall,
    async importLayer(desc, opts) {
      const file = blobFile(desc.digest);
      if (!existsSync(file))
        throw RegistryInvalidLayout(`the layout at ${dir} refers to blob ${desc.digest}, which it does not contain`, { data: { digest: desc.digest } });
      // A file, so large layers take the import worker like any imported file (blob-store.ts).
      return registry.blobs.importFile(file, opts);
    },
  };
  const out: Materialized[] = [];
  for (const m of pickManifests(await readIndex(dir), dir, options.refName)) {
    const bytes = await readSmall(m);
    checkDigest(bytes, m.digest, dir);
    out.push(await materialize(registry, bytes, source, options));
  }
  return out;
}

function checkDigest(bytes: Buffer, expected: Digest, where: string): void {
  const actual = sha256Digest(bytes);
  if (actual !== expected) throw RegistryDigestMismatch(`blob ${expected} in ${where} hashes to ${actual}`, { data: { expected, actual } });
}

/**
 * A tar is read once, front to back: small blobs (manifests, configs) are kept in memory, large
 * ones are imported into the store as they stream past (pinned, digest-checked). Layers that turn
 * out to be unused are left to GC once the lease is released.
 */
async function importTar(registry: Registry, input: AsyncIterable<Buffer | Uint8Array>, file: string, options: ImportLayoutOptions): Promise<Materialized[]> {
  const small = new Map<string, Buffer>();
  let indexBytes: Buffer | null = null;
  const lease = registry.pins.lease();
  try {
    try {
      for await (const e of tarEntries(input)) {
        const name = e.name.replace(/^\.\//, '');
        if (e.type !== 'file') continue;
        if (name === 'index.json') indexBytes = Buffer.concat(await all(e.body));
        const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
        if (!m) continue;
        const digest = `sha256:${m[1]}` as Digest;
        if (e.size <= 64 * 1024) small.set(digest, Buffer.concat(await all(e.body)));
        else await registry.blobs.importStream(e.body, { expectedDigest: digest, beforePublish: (d) => lease.pin(d) });
      }
    } catch (err) {
      if ((err as { code?: string }).code?.startsWith('registry_')) throw err;
      throw RegistryInvalidLayout(`${file} is not a readable tar archive: ${(err as Error).message}`, { cause: err });
    }
    if (!indexBytes) throw RegistryInvalidLayout(`${file} has no index.json`);
    let index: OciIndex;
    try {
      index = JSON.parse(indexBytes.toString('utf8')) as OciIndex;
    } catch (err) {
      throw RegistryInvalidLayout(`${file}: index.json is not JSON`, { cause: err });
    }
    if (index?.schemaVersion !== 2 || !Array.isArray(index.manifests)) throw RegistryInvalidLayout(`${file}: index.json is not an OCI image index`);
    const missing = (d: Digest) => RegistryInvalidLayout(`the layout at ${file} refers to blob ${d}, which it does not contain`, { data: { digest: d } });
    const source: BlobSource = {
      where: file,
      async readSmall(desc) {
        const b = small.get(desc.digest);
        if (!b) throw missing(desc.digest);
        return b;
      },
      async importLayer(desc, opts) {
        const b = small.get(desc.digest);
        if (b) return registry.blobs.importStream(chunksOf(b), opts);
        // Large layers were imported while streaming; if it is not in the store the tar lacked it.
        throw missing(desc.digest);
      },
    };
    const out: Materialized[] = [];
    for (const m of pickManifests(index, file, options.refName)) {
      const bytes = small.get(m.digest);
      if (!bytes) throw missing(m.digest);
      checkDigest(bytes, m.digest, file);
      out.push(await materialize(registry, bytes, source, options));
    }
    return out;
  } finally {
    lease.release();
  }
}

async function all(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return out;
}
