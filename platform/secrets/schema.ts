/**
 * The secrets table: one row per (function, name) with the AES-256-GCM nonce, ciphertext and tag,
 * and the id of the key that sealed it (so a key mix-up is named as such, and an interrupted key
 * rotation can be finished or rolled back at start-up). No plaintext column exists.
 */
import type { Migration } from '../store/db.ts';

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
