/**
 * The secrets table: one row per (function, name) with the AES-256-GCM nonce, ciphertext and tag,
 * and the id of the key that sealed it (so a key mix-up is named as such, and an interrupted key
 * rotation can be finished or rolled back at start-up). No plaintext column exists.
 */
import { blob, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { Migration } from '../store/db.ts';

export const secretsTable = sqliteTable(
  'secrets',
  {
    fn: text('function').notNull(),
    name: text('name').notNull(),
    nonce: blob('nonce', { mode: 'buffer' }).notNull(),
    ciphertext: blob('ciphertext', { mode: 'buffer' }).notNull(),
    tag: blob('tag', { mode: 'buffer' }).notNull(),
    /** The id of the key that sealed the row (crypto.ts `keyId`). */
    keyId: text('key_id').notNull(),
    createdAt: integer('created_at').notNull(),
    updatedAt: integer('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.fn, t.name] })],
);

export const secretMigrations: Migration[] = [
  {
    id: 'secrets-001',
    sql: `
      CREATE TABLE secrets (
        function    TEXT NOT NULL,
        name        TEXT NOT NULL,
        nonce       BLOB NOT NULL,
        ciphertext  BLOB NOT NULL,
        tag         BLOB NOT NULL,
        key_id      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        PRIMARY KEY (function, name)
      );
    `,
  },
];
