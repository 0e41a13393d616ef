/**
 * Shared set-up for the auth and secrets tests: a temp data directory with a real SQLite file
 * migrated for both capabilities, a logger that keeps every line, and a test app with the
 * platform's problem+json edge in front, as the daemon has it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hono } from 'hono';
import { openDatabase, type Store } from '../../platform/store/db.ts';
import { authMigrations } from '../../platform/auth/schema.ts';
import { secretMigrations } from '../../platform/secrets/schema.ts';
import { createLogger, type Logger } from '../../platform/log.ts';
import { onError } from '../../platform/api/problem.ts';

export interface TempData {
  dir: string;
  dbFile: string;
  store: Store;
  reopen(): Store;
  cleanup(): void;
}

export function tempData(prefix = 'ignition-auth-'): TempData {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  const dbFile = path.join(dir, 'ignition.db');
  const t: TempData = {
    dir,
    dbFile,
    store: openDatabase(dbFile, [...authMigrations, ...secretMigrations]),
    reopen() {
      t.store.close();
      t.store = openDatabase(dbFile, [...authMigrations, ...secretMigrations]);
      return t.store;
    },
    cleanup() {
      t.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** A logger whose every line is kept in `lines` (JSON text, exactly as it would be written). */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger({ level: 'debug', write: (line) => lines.push(line) }), lines };
}

/** A Hono app with a request id and the daemon's error edge, logging into `logger`. */
export function edgeApp(logger: Logger) {
  const app = new Hono<{ Variables: { requestId: string } }>();
  app.use('*', async (c, next) => {
    c.set('requestId', 'req_test');
    await next();
  });
  app.onError(onError(logger));
  return app;
}
