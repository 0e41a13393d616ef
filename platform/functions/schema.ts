/**
 * Tables of the function layer: functions, their immutable versions, aliases that point at
 * versions (with an optional weighted split) and console logs. (Migration functions-001 also
 * created the machines table, which platform/vmm/schema.ts owns now.)
 */
import { integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { Migration } from '../store/db.ts';

export const functionsTable = sqliteTable('functions', {
  name: text('name').primaryKey(),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export const versionsTable = sqliteTable('versions', {
  /** `<function>@<seq>` is how users name it; the id is the deployment's content digest. */
  id: text('id').primaryKey(),
  fn: text('function').notNull(),
  seq: integer('seq').notNull(),
  digest: text('digest').notNull(),
  bundleDigest: text('bundle_digest').notNull(),
  /** The golden snapshot in the registry that instances of this version restore from. */
  snapshotId: text('snapshot_id').notNull(),
  settings: text('settings').notNull(),
  /**
   * JSON: the settings deploys stated for this version (the rest are the daemon's defaults). A
   * redeploy keeps these unless it states others; null for versions stored before it was kept.
   */
  statedSettings: text('stated_settings'),
  env: text('env').notNull(),
  createdAt: integer('created_at').notNull(),
});

export const aliasesTable = sqliteTable(
  'aliases',
  {
    fn: text('function').notNull(),
    name: text('name').notNull(),
    /** JSON: [{ version: id, weight: 0..100 }]; a single entry with weight 100 for plain aliases. */
    routes: text('routes').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.fn, t.name] })],
);

export const logsTable = sqliteTable('logs', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  fn: text('function').notNull(),
  version: text('version'),
  machine: text('machine'),
  invocation: text('invocation'),
  level: text('level').notNull(),
  time: integer('time').notNull(),
  message: text('message').notNull(),
});

export const functionMigrations: Migration[] = [
  {
    id: 'functions-001',
    sql: `
      CREATE TABLE functions (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE versions (
        id TEXT PRIMARY KEY,
        function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        digest TEXT NOT NULL,
        bundle_digest TEXT NOT NULL,
        snapshot_id TEXT NOT NULL,
        settings TEXT NOT NULL,
        env TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (function, seq)
      );
      CREATE TABLE aliases (
        function TEXT NOT NULL REFERENCES functions(name) ON DELETE CASCADE,
        name TEXT NOT NULL,
        routes TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (function, name)
      );
      CREATE TABLE machines (
        id TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        role TEXT NOT NULL,
        function TEXT,
        version TEXT,
        state TEXT NOT NULL,
        pid INTEGER,
        workspace TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        function TEXT NOT NULL,
        version TEXT,
        machine TEXT,
        invocation TEXT,
        level TEXT NOT NULL,
        time INTEGER NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX logs_by_function ON logs (function, id);
      CREATE INDEX logs_by_invocation ON logs (invocation);
    `,
  },
  {
    id: 'functions-002',
    sql: `
      ALTER TABLE machines ADD COLUMN name TEXT;
      CREATE UNIQUE INDEX machines_by_name ON machines (name) WHERE name IS NOT NULL;
    `,
  },
  {
    id: 'functions-003',
    sql: `ALTER TABLE versions ADD COLUMN stated_settings TEXT;`,
  },
];
