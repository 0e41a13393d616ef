/**
 * The registry's tables, declared twice on purpose: as drizzle tables for typed queries, and as
 * the hand-written SQL migration that creates them (platform/store/db.ts applies migrations by
 * id). The two must match; test/registry/schema.test.ts compares them column by column.
 *
 * Tables are prefixed `registry_` because every capability shares one database file.
 */
import { sqliteTable, text, integer, primaryKey, index } from 'drizzle-orm/sqlite-core';
import type { Migration } from '../store/db.ts';

/** One row per snapshot. `parent_id` is plain text, not a foreign key: a pulled snapshot keeps the
 * id of a parent this host may never have seen, and a forced removal leaves descendants pointing
 * at a parent that is gone (the lineage tree shows them as orphans). */
export const registrySnapshots = sqliteTable(
  'registry_snapshots',
  {
    id: text('id').primaryKey(),
    name: text('name').unique(),
    parentId: text('parent_id'),
    kind: text('kind').notNull(),
    driver: text('driver').notNull(),
    config: text('config').notNull(),
    labels: text('labels').notNull(),
    size: integer('size').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [index('registry_snapshots_parent').on(t.parentId)],
);

/** Tags are unique across the registry: a tag names exactly one snapshot and moves atomically. */
export const registryTags = sqliteTable(
  'registry_tags',
  {
    tag: text('tag').primaryKey(),
    snapshotId: text('snapshot_id')
      .notNull()
      .references(() => registrySnapshots.id, { onDelete: 'cascade' }),
  },
  (t) => [index('registry_tags_snapshot').on(t.snapshotId)],
);

/** The files of a snapshot, by role. These rows are the references GC counts. */
export const registryFiles = sqliteTable(
  'registry_files',
  {
    snapshotId: text('snapshot_id')
      .notNull()
      .references(() => registrySnapshots.id, { onDelete: 'cascade' }),
    role: text('role').notNull(),
    digest: text('digest').notNull(),
    size: integer('size').notNull(),
  },
  (t) => [primaryKey({ columns: [t.snapshotId, t.role] }), index('registry_files_digest').on(t.digest)],
);

/** Blobs pinned by an import in progress (by `lease`, owned by process `pid`); GC skips them. */
export const registryPins = sqliteTable(
  'registry_pins',
  {
    digest: text('digest').notNull(),
    lease: text('lease').notNull(),
    pid: integer('pid').notNull(),
    createdAt: integer('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.digest, t.lease] })],
);

/** Where blobs are known to exist remotely, so a push can mount across repositories. */
export const registryRemoteBlobs = sqliteTable(
  'registry_remote_blobs',
  {
    host: text('host').notNull(),
    repository: text('repository').notNull(),
    digest: text('digest').notNull(),
    seenAt: integer('seen_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.host, t.repository, t.digest] })],
);

export const registryMigrations: Migration[] = [
  {
    id: 'registry-001',
    sql: `
CREATE TABLE registry_snapshots (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT UNIQUE,
  parent_id TEXT,
  kind TEXT NOT NULL CHECK (kind IN ('golden', 'fork', 'manual', 'base-image')),
  driver TEXT NOT NULL CHECK (driver IN ('process', 'firecracker')),
  config TEXT NOT NULL,
  labels TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX registry_snapshots_parent ON registry_snapshots (parent_id);
CREATE TABLE registry_tags (
  tag TEXT PRIMARY KEY NOT NULL,
  snapshot_id TEXT NOT NULL REFERENCES registry_snapshots (id) ON DELETE CASCADE
);
CREATE INDEX registry_tags_snapshot ON registry_tags (snapshot_id);
CREATE TABLE registry_files (
  snapshot_id TEXT NOT NULL REFERENCES registry_snapshots (id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (snapshot_id, role)
);
CREATE INDEX registry_files_digest ON registry_files (digest);
CREATE TABLE registry_pins (
  digest TEXT NOT NULL,
  lease TEXT NOT NULL,
  pid INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (digest, lease)
);
CREATE TABLE registry_remote_blobs (
  host TEXT NOT NULL,
  repository TEXT NOT NULL,
  digest TEXT NOT NULL,
  seen_at INTEGER NOT NULL,
  PRIMARY KEY (host, repository, digest)
);
`,
  },
];
