/**
 * The network capability's table: `net_slots`, one row per slot number in use (ipam.ts describes
 * the states a row moves through). Declared twice, as the drizzle table ipam.ts queries and as
 * the SQL migration that creates it; test/unit/store-schema.test.ts checks that the two agree.
 *
 * The migration's SQL is idempotent (`IF NOT EXISTS`) because `applyNetworkMigrations` runs it
 * outside the store's migration runner: `NetworkService.open` takes a bare better-sqlite3
 * connection, which tools and tests open without the platform's migration list.
 */
import type Database from 'better-sqlite3';
import { integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { Migration } from '../store/db.ts';
import type { SlotPolicy } from './slot.ts';

export type SlotKind = 'clone' | 'bridge';
export type SlotState = 'creating' | 'ready' | 'leased' | 'destroying';

export const netSlotsTable = sqliteTable(
  'net_slots',
  {
    kind: text('kind').$type<SlotKind>().notNull(),
    slot: integer('slot').notNull(),
    state: text('state').$type<SlotState>().notNull(),
    /** The VM holding the slot (leased, or being created for it). */
    vmId: text('vm_id').unique(),
    /** The service instance that created or last adopted the row. */
    owner: text('owner').notNull(),
    /** The policy applied on the host, as JSON. */
    policy: text('policy', { mode: 'json' }).$type<SlotPolicy>(),
    createdAt: integer('created_at').notNull(),
    leasedAt: integer('leased_at'),
  },
  (t) => [primaryKey({ columns: [t.kind, t.slot] })],
);

/** Migrations of the network tables, applied by the platform store (idempotent SQL). */
export const networkMigrations: Migration[] = [
  {
    id: 'network-001',
    sql: `
CREATE TABLE IF NOT EXISTS net_slots (
  kind       TEXT    NOT NULL CHECK (kind IN ('clone', 'bridge')),
  slot       INTEGER NOT NULL CHECK (slot >= 0),
  state      TEXT    NOT NULL CHECK (state IN ('creating', 'ready', 'leased', 'destroying')),
  vm_id      TEXT    UNIQUE,
  owner      TEXT    NOT NULL,
  policy     TEXT,
  created_at INTEGER NOT NULL,
  leased_at  INTEGER,
  PRIMARY KEY (kind, slot),
  CHECK (state <> 'leased' OR vm_id IS NOT NULL),
  CHECK (state <> 'ready' OR vm_id IS NULL)
);
CREATE INDEX IF NOT EXISTS net_slots_state ON net_slots (kind, state, slot);
`,
  },
];

/** Applies the migrations directly; for tools and tests that run without the platform store. */
export function applyNetworkMigrations(db: Database.Database): void {
  for (const m of networkMigrations) db.exec(m.sql);
}
