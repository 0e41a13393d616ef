/**
 * The machines table, owned by vmm: every machine the daemon starts (pool instances, build
 * machines, user VMs) has a row from before its process exists until its workspace is gone, so a
 * daemon restarted after a crash can find and reap what the old one left running (records.ts).
 *
 * The table's history lives in the functions capability's migrations: `functions-001` created it
 * and `functions-002` added `name`, from when function instances were its only users. Released
 * migrations are never edited (platform/store/db.ts), so those two stay where they are and run
 * first. `vmm-001` states the table's current shape with `IF NOT EXISTS`: on any database the
 * functions migrations reached it changes nothing, and it records that vmm owns the table from
 * here on. Every future change to `machines` is a new `vmm-nnn` migration in this file, listed
 * after the functions migrations (platform/store/migrations.ts).
 */
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { Migration } from '../store/db.ts';

export const machinesTable = sqliteTable('machines', {
  id: text('id').primaryKey(),
  driver: text('driver').notNull(),
  /** `instance` (pool member of a function version), `build`, or `vm` (user-managed). */
  role: text('role').notNull(),
  fn: text('function'),
  version: text('version'),
  state: text('state').notNull(),
  pid: integer('pid'),
  workspace: text('workspace').notNull(),
  /** A `vm`'s user-given name (unique among VMs), kept so a restarted daemon still resolves it. */
  name: text('name'),
  createdAt: integer('created_at').notNull(),
  updatedAt: integer('updated_at').notNull(),
});

export const vmmMigrations: Migration[] = [
  {
    id: 'vmm-001',
    // The shape functions-001 and functions-002 leave behind, column order included (`name` was
    // added last by ALTER TABLE), so a database built from this migration alone is the same.
    sql: `
      CREATE TABLE IF NOT EXISTS machines (
        id TEXT PRIMARY KEY,
        driver TEXT NOT NULL,
        role TEXT NOT NULL,
        function TEXT,
        version TEXT,
        state TEXT NOT NULL,
        pid INTEGER,
        workspace TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        name TEXT
      );
      CREATE UNIQUE INDEX IF NOT EXISTS machines_by_name ON machines (name) WHERE name IS NOT NULL;
    `,
  },
];
