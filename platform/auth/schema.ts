/**
 * The tokens table. Only the SHA-256 of a token is stored: a copy of the database (a backup, a
 * support bundle) never lets anyone call the API. Revoked tokens keep their row so `token ls`
 * can show who had access and when it ended.
 */
import { blob, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';
import type { Migration } from '../store/db.ts';

export type TokenScope = 'admin' | 'invoke';

export const tokensTable = sqliteTable('tokens', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  scope: text('scope').$type<TokenScope>().notNull(),
  /** For `invoke` tokens: the one function it may call, or null for every function. */
  fn: text('function'),
  /** SHA-256 of the token. */
  hash: blob('hash', { mode: 'buffer' }).notNull().unique(),
  createdAt: integer('created_at').notNull(),
  lastUsedAt: integer('last_used_at'),
  revokedAt: integer('revoked_at'),
});

export const authMigrations: Migration[] = [
  {
    id: 'auth-001',
    sql: `
      CREATE TABLE tokens (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        scope         TEXT NOT NULL CHECK (scope IN ('admin', 'invoke')),
        function      TEXT,
        hash          BLOB NOT NULL UNIQUE,
        created_at    INTEGER NOT NULL,
        last_used_at  INTEGER,
        revoked_at    INTEGER
      );
    `,
  },
];
