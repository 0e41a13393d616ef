/**
 * How a snapshot looks as an OCI artifact, as pure functions: the config blob (the snapshot's
 * metadata, in a media type of ours), one layer per file (a media type per role) and the image
 * manifest tying them together. Everything is serialised deterministically, so the same snapshot
 * always yields the same manifest digest: a re-push is a no-op and a re-export identical.
 */
import { createHash } from 'node:crypto';
import { assertDigest, assertRole, type Digest } from '../digest.ts';
import { RegistryInvalidLayout } from '../errors.ts';
import type { Snapshot } from '../types.ts';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_LAYOUT_VERSION = '1.0.0';
/** The `artifactType` of every Ignition snapshot manifest. */
export const SNAPSHOT_ARTIFACT = 'application/vnd.ignition.snapshot.v1';
/** The config blob: snapshot metadata (see `SnapshotConfigBlob`). */
export const SNAPSHOT_CONFIG = 'application/vnd.ignition.snapshot.config.v1+json';
/** Annotation that names a layer's role (besides the OCI title, which tools use as file name). */
export const ROLE_ANNOTATION = 'dev.ignition.snapshot.role';
export const ID_ANNOTATION = 'dev.ignition.snapshot.id';
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** The media type of a snapshot file by role: `application/vnd.ignition.snapshot.memory.v1`. */
export function layerMediaType(role: string): string {
  return `application/vnd.ignition.snapshot.${assertRole(role)}.v1`;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: typeof OCI_MANIFEST;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** What the config blob holds. Tags are local handles and stay out (they would change the digest). */
export interface SnapshotConfigBlob {
  schemaVersion: 1;
  id: string;
  name: string | null;
  parentId: string | null;
  kind: Snapshot['kind'];
  driver: Snapshot['driver'];
  config: Record<string, unknown>;
  labels: Record<string, string>;
  files: Record<string, { digest: Digest; size: number }>;
  createdAt: string;
}

export interface Artifact {
  config: Buffer;
  configDescriptor: Descriptor;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDigest: Digest;
  /** The layers with their roles, in manifest order. */
  layers: Array<Descriptor & { role: string }>;
}

export function sha256Digest(buf: Buffer): Digest {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

/** Builds the OCI artifact of a snapshot (no I/O: blobs are referred to by digest). */
export function snapshotArtifact(snap: Snapshot): Artifact {
  const roles = Object.keys(snap.files).sort();
  const blob: SnapshotConfigBlob = {
    schemaVersion: 1,
    id: snap.id,
    name: snap.name,
    parentId: snap.parentId,
    kind: snap.kind,
    driver: snap.driver,
    config: snap.config,
    labels: snap.labels,
    files: Object.fromEntries(roles.map((r) => [r, { digest: snap.files[r].digest, size: snap.files[r].size }])),
    createdAt: snap.createdAt,
  };
  const config = Buffer.from(JSON.stringify(blob));
  const configDescriptor: Descriptor = { mediaType: SNAPSHOT_CONFIG, digest: sha256Digest(config), size: config.length };
  const layers = roles.map((role) => ({
    role,
    mediaType: layerMediaType(role),
    digest: snap.files[role].digest,
    size: snap.files[role].size,
    annotations: { [TITLE_ANNOTATION]: role, [ROLE_ANNOTATION]: role },
  }));
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SNAPSHOT_ARTIFACT,
    config: configDescriptor,
    layers: layers.map(({ role: _role, ...d }) => d),
    annotations: { [CREATED_ANNOTATION]: snap.createdAt, [ID_ANNOTATION]: snap.id },
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { config, configDescriptor, manifest, manifestBytes, manifestDigest: sha256Digest(manifestBytes), layers };
}

/** Parses and checks a manifest that should describe an Ignition snapshot. */
export function parseSnapshotManifest(bytes: Buffer, where: string): { manifest: ImageManifest; layers: Array<Descriptor & { role: string }> } {
  let m: ImageManifest;
  try {
    m = JSON.parse(bytes.toString('utf8')) as ImageManifest;
  } catch (err) {
    throw RegistryInvalidLayout(`the manifest at ${where} is not JSON`, { cause: err });
  }
  if (m?.schemaVersion !== 2 || (m.mediaType !== undefined && m.mediaType !== OCI_MANIFEST)) {
    throw RegistryInvalidLayout(`the manifest at ${where} is not an OCI image manifest (mediaType ${JSON.stringify(m?.mediaType)})`);
  }
  if (m.config?.mediaType !== SNAPSHOT_CONFIG) {
    throw RegistryInvalidLayout(`the artifact at ${where} is not an Ignition snapshot (config media type ${JSON.stringify(m.config?.mediaType)})`);
  }
  checkDescriptor(m.config, where);
  if (!Array.isArray(m.layers) || m.layers.length === 0) throw RegistryInvalidLayout(`the manifest at ${where} has no layers`);
  const seen = new Set<string>();
  const layers = m.layers.map((d) => {
    checkDescriptor(d, where);
    const role = d.annotations?.[ROLE_ANNOTATION];
    assertRole(role);
    if (d.mediaType !== layerMediaType(role as string)) throw RegistryInvalidLayout(`layer "${role}" at ${where} has media type ${d.mediaType}`);
    if (seen.has(role as string)) throw RegistryInvalidLayout(`the manifest at ${where} lists role "${role}" twice`);
    seen.add(role as string);
    return { ...d, role: role as string };
  });
  return { manifest: m, layers };
}

/** Parses a config blob and checks it agrees with the manifest's layers. */
export function parseSnapshotConfig(bytes: Buffer, layers: Array<Descriptor & { role: string }>, where: string): SnapshotConfigBlob {
  let c: SnapshotConfigBlob;
  try {
    c = JSON.parse(bytes.toString('utf8')) as SnapshotConfigBlob;
  } catch (err) {
    throw RegistryInvalidLayout(`the snapshot config at ${where} is not JSON`, { cause: err });
  }
  if (c?.schemaVersion !== 1 || typeof c.id !== 'string' || typeof c.files !== 'object' || c.files === null) {
    throw RegistryInvalidLayout(`the snapshot config at ${where} is not a version 1 Ignition snapshot config`);
  }
  const roles = Object.keys(c.files).sort();
  const layerRoles = layers.map((l) => l.role).sort();
  if (JSON.stringify(roles) !== JSON.stringify(layerRoles)) {
    throw RegistryInvalidLayout(`the snapshot config at ${where} lists files ${roles.join(', ')} but the manifest has layers ${layerRoles.join(', ')}`);
  }
  for (const l of layers) {
    if (c.files[l.role].digest !== l.digest || c.files[l.role].size !== l.size) {
      throw RegistryInvalidLayout(`file "${l.role}" at ${where} differs between the config and the manifest`);
    }
  }
  return c;
}

function checkDescriptor(d: Descriptor | undefined, where: string): void {
  if (!d || typeof d !== 'object') throw RegistryInvalidLayout(`a descriptor at ${where} is missing`);
  assertDigest(d.digest, `descriptor digest at ${where}`);
  if (!Number.isSafeInteger(d.size) || d.size < 0) throw RegistryInvalidLayout(`descriptor ${d.digest} at ${where} has an invalid size`);
}
