/**
 * The SQLite store: one database file in the data directory, opened with better-sqlite3 and typed
 * queries through drizzle-orm.
 *
 * Schema changes are plain SQL migrations, each owned by a capability (functions, registry,
 * network…) and identified by a stable id such as `registry-001`. `openDatabase` applies the ones
 * not yet recorded in `_migrations`, each in its own transaction, in the order given. Hand-written
 * SQL keeps the file the source of truth and avoids a code-generation step at install time.
 *
 * WAL mode lets readers (the CLI's direct reads, metrics) run beside the daemon's writer;
 * `busy_timeout` makes concurrent writers wait instead of failing with SQLITE_BUSY.
 *
 * The file holds token hashes, secret ciphertexts, deploy-time env and logs: it and its `-wal`
 * and `-shm` files are the owner's only (0600), whatever the umask (privateDatabaseFiles).
 */
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { defineError } from '../errors.ts';

export const StoreError = defineError('store_error', 500, 'Database error', 'store');

export interface Migration {
  /** Stable, unique id: `<capability>-<nnn>`. Never edit a released migration; add a new one. */
  id: string;
  sql: string;
}

export interface Store {
  sqlite: Database.Database;
  db: BetterSQLite3Database;
  close(): void;
}

export function openDatabase(file: string, migrations: readonly Migration[]): Store {
  let sqlite: Database.Database;
  try {
    if (file !== ':memory:') {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      privateDatabaseFiles(file);
    }
    sqlite = new Database(file);
  } catch (err) {
    throw StoreError(`cannot open the database at ${file}: ${(err as Error).message}`, { cause: err });
  }
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  applyMigrations(sqlite, migrations);
  let closed = false;
  return {
    sqlite,
    db: drizzle(sqlite),
    close() {
      if (closed) return;
      closed = true;
      sqlite.close();
    },
  };
}

/**
 * Creates the database file 0600 before SQLite does (SQLite would create it 0644 less the umask,
 * and gives its `-wal` and `-shm` files the database file's mode), and takes group and other
 * access away from an existing one and from `-wal`/`-shm` files a crash left behind.
 */
export function privateDatabaseFiles(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export function applyMigrations(sqlite: Database.Database, migrations: readonly Migration[]): void {
  sqlite.exec('CREATE TABLE IF NOT EXISTS _migrations (id TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)');
  const seen = new Set(sqlite.prepare('SELECT id FROM _migrations').pluck().all() as string[]);
  const record = sqlite.prepare('INSERT INTO _migrations (id, applied_at) VALUES (?, ?)');
  const ids = new Set<string>();
  for (const m of migrations) {
    if (ids.has(m.id)) throw StoreError(`migration ${m.id} is listed twice`);
    ids.add(m.id);
    if (seen.has(m.id)) continue;
    // IMMEDIATE: two processes opening a fresh file at once must not both apply the migration.
    const apply = sqlite.transaction(() => {
      const again = sqlite.prepare('SELECT 1 FROM _migrations WHERE id = ?').get(m.id);
      if (again) return;
      sqlite.exec(m.sql);
      record.run(m.id, Date.now());
    });
    try {
      apply.immediate();
    } catch (err) {
      throw StoreError(`migration ${m.id} failed: ${(err as Error).message}`, { cause: err });
    }
  }
}
