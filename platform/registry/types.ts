/**
 * The registry's model: what a snapshot is, as the catalogue stores it and the API returns it.
 * Pure types and validation, no I/O.
 */
import { assertDigest, assertLabelKey, assertRole, type Digest } from './digest.ts';
import { RegistryBadRequest } from './errors.ts';

export const SNAPSHOT_KINDS = ['golden', 'fork', 'manual', 'base-image'] as const;
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];
export const SNAPSHOT_DRIVERS = ['process', 'firecracker'] as const;
export type SnapshotDriver = (typeof SNAPSHOT_DRIVERS)[number];

/** One file of a snapshot: `memory`, `state`, `disk`, `bundle`, `sourcemap`… */
export interface SnapshotFile {
  digest: Digest;
  size: number;
}

export interface Snapshot {
  /** `snap_` followed by 20 hex digits; stable across push and pull. */
  id: string;
  name: string | null;
  tags: string[];
  /** The snapshot this one was taken from (lineage); may name a snapshot this host lacks. */
  parentId: string | null;
  kind: SnapshotKind;
  driver: SnapshotDriver;
  /** What the driver needs to restore (vCPUs, memory, boot args, agent port…), opaque here. */
  config: Record<string, unknown>;
  files: Record<string, SnapshotFile>;
  labels: Record<string, string>;
  /** Sum of the logical sizes of the files. */
  size: number;
  /** ISO 8601. */
  createdAt: string;
}

/** What `Catalogue.create` takes: files already in the blob store. */
export interface NewSnapshot {
  id?: string;
  name?: string | null;
  tags?: string[];
  parentId?: string | null;
  kind: SnapshotKind;
  driver: SnapshotDriver;
  config?: Record<string, unknown>;
  labels?: Record<string, string>;
  files: Record<string, SnapshotFile>;
  createdAt?: string;
}

export function assertKind(value: unknown): SnapshotKind {
  if (!SNAPSHOT_KINDS.includes(value as SnapshotKind)) {
    throw RegistryBadRequest(`snapshot kind ${JSON.stringify(value)} is not one of ${SNAPSHOT_KINDS.join(', ')}`, { data: { kind: value } });
  }
  return value as SnapshotKind;
}

export function assertDriver(value: unknown): SnapshotDriver {
  if (!SNAPSHOT_DRIVERS.includes(value as SnapshotDriver)) {
    throw RegistryBadRequest(`snapshot driver ${JSON.stringify(value)} is not one of ${SNAPSHOT_DRIVERS.join(', ')}`, { data: { driver: value } });
  }
  return value as SnapshotDriver;
}

/** Labels are string to string; keys follow the name rules, values are short and free of NUL. */
export function assertLabels(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw RegistryBadRequest('labels must be an object of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    assertLabelKey(k);
    if (typeof v !== 'string' || v.length > 1024 || v.includes('\0')) {
      throw RegistryBadRequest(`label "${k}" must be a string of at most 1024 characters without NUL`, { data: { label: k } });
    }
    out[k] = v;
  }
  return out;
}

/** Files: role → {digest, size}; at least one. */
export function assertFiles(value: unknown): Record<string, SnapshotFile> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.keys(value).length === 0) {
    throw RegistryBadRequest('a snapshot needs at least one file (role → {digest, size})');
  }
  const out: Record<string, SnapshotFile> = {};
  for (const [role, f] of Object.entries(value as Record<string, unknown>)) {
    assertRole(role);
    const file = f as Partial<SnapshotFile>;
    const digest = assertDigest(file?.digest, `digest of file "${role}"`);
    if (!Number.isSafeInteger(file.size) || (file.size as number) < 0) throw RegistryBadRequest(`size of file "${role}" must be a non-negative integer`);
    out[role] = { digest, size: file.size as number };
  }
  return out;
}

export function assertConfig(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw RegistryBadRequest('config must be a JSON object');
  return value as Record<string, unknown>;
}
