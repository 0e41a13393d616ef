/**
 * Shared set-up for the registry tests: a registry on a temp directory with a real SQLite file,
 * and small file generators (random, mostly-zero).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, type Store } from '../../platform/store/db.ts';
import { Registry } from '../../platform/registry/registry.ts';
import { registryMigrations } from '../../platform/registry/schema.ts';

export interface TempRegistry {
  dir: string;
  store: Store;
  registry: Registry;
  /** Reopens database and registry on the same directory (what a restarted daemon does). */
  reopen(): Registry;
  cleanup(): void;
}

export function tempDir(prefix = 'ign-reg-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function tempRegistry(dir = tempDir()): TempRegistry {
  let store = openDatabase(path.join(dir, 'ignition.db'), registryMigrations);
  const t: TempRegistry = {
    dir,
    store,
    registry: new Registry({ root: path.join(dir, 'registry'), store }),
    reopen() {
      store.close();
      store = openDatabase(path.join(dir, 'ignition.db'), registryMigrations);
      t.store = store;
      t.registry = new Registry({ root: path.join(dir, 'registry'), store });
      return t.registry;
    },
    cleanup() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** Writes `size` random bytes to a new file in `dir`. */
export function randomFile(dir: string, name: string, size: number): string {
  const p = path.join(dir, name);
  writeFileSync(p, randomBytes(size));
  return p;
}

/**
 * A sparse file of `size` bytes with `dataBytes` of random data at each offset in `at`
 * (like a memory file: mostly zero pages, a few touched ones).
 */
export function mostlyZeroFile(dir: string, name: string, size: number, at: number[], dataBytes = 64 * 1024): string {
  const p = path.join(dir, name);
  const fd = openSync(p, 'w');
  ftruncateSync(fd, size);
  for (const off of at) writeSync(fd, randomBytes(dataBytes), 0, dataBytes, off);
  closeSync(fd);
  return p;
}

/** Awaits `fn` and asserts it rejects with an error whose `code` is `expected` (when given). */
export async function rejects(fn: () => Promise<unknown>, expected?: string): Promise<Error & { code?: string }> {
  try {
    await fn();
  } catch (err) {
    const e = err as Error & { code?: string };
    if (expected !== undefined && e.code !== expected) throw new Error(`expected code ${expected}, got ${e.code}: ${e.message}`);
    return e;
  }
  throw new Error(`expected a rejection${expected ? ` with code ${expected}` : ''}, but it resolved`);
}
