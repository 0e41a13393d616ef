/**
 * Encrypted per-function secrets.
 *
 * Values are sealed with AES-256-GCM under the data directory's key (see key.ts, crypto.ts) and
 * only opened by `resolve`, which the composition root calls to hand a function's secrets to an
 * instance after each restore: never into a deploy's env, a golden snapshot or a log. Every error
 * raised here names the function and the secret; no message, log field or `data` carries a value.
 *
 * Writes are synchronous (better-sqlite3) so within the daemon nothing interleaves with a key
 * rotation, which re-seals every row in one transaction before the new key file replaces the old.
 */
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import type { Store } from '../store/db.ts';
import { assertFunctionName } from '../functions/names.ts';
import { keyId as idOfKey, KEY_BYTES, open, seal } from './crypto.ts';
import { SecretCorrupt, SecretInvalidName, SecretInvalidValue, SecretKeyInvalid, SecretNotFound, SecretTooLarge } from './errors.ts';
import { KEY_FILE, loadOrCreateKey, NEXT_KEY_FILE, promoteNextKey, readKeyFile, writeKeyExclusive } from './key.ts';
import { secretsTable } from './schema.ts';

export const SECRET_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
export const SECRET_VALUE_MAX_BYTES = 64 * 1024;

/** What listing shows: never a value. */
export interface SecretInfo {
  name: string;
  createdAt: number;
  updatedAt: number;
}

type Row = typeof secretsTable.$inferSelect;

const oneSecret = (fn: string, name: string) => and(eq(secretsTable.fn, fn), eq(secretsTable.name, name));

/**
 * Checks a secret name. An invalid name is not echoed whole (people paste a value where the name
 * belongs); the message says what is wrong and shows the first offending character.
 */
export function assertSecretName(name: unknown): string {
  const rule = 'secret names use letters, digits and "_", do not start with a digit, and have at most 128 characters';
  if (typeof name !== 'string' || name.length === 0) throw SecretInvalidName(`a secret name must be a non-empty string: ${rule}`);
  if (SECRET_NAME_RE.test(name)) return name;
  if (name.length > 128) throw SecretInvalidName(`the secret name is ${name.length} characters long: ${rule}`);
  const at = /^[0-9]/.test(name) ? 0 : [...name].findIndex((ch) => !/[A-Za-z0-9_]/.test(ch));
  const ch = [...name][at];
  const shown = /[\x21-\x7e]/.test(ch) ? `"${ch}"` : `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  throw SecretInvalidName(`the secret name has ${shown} at position ${at + 1}: ${rule}`);
}

function assertValue(name: string, value: unknown): string {
  if (typeof value !== 'string') throw SecretInvalidValue(`the value of secret ${name} must be a string`);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > SECRET_VALUE_MAX_BYTES) {
    throw SecretTooLarge(`the value of secret ${name} is ${bytes} bytes; the limit is ${SECRET_VALUE_MAX_BYTES}`, {
      data: { secret: name, limit: SECRET_VALUE_MAX_BYTES },
    });
  }
  // Secrets reach the function as environment variables, which cannot carry NUL.
  if (value.includes('\0')) throw SecretInvalidValue(`the value of secret ${name} contains a NUL byte, which an environment variable cannot carry`);
  return value;
}

export class SecretStore {
  private key: Buffer;

  /** Prefer `SecretStore.open`; a store built from a bare key cannot rotate it. */
  constructor(
    private readonly store: Store,
    key: Buffer,
    private readonly dataDir?: string,
    private readonly now: () => number = Date.now,
  ) {
    if (key.length !== KEY_BYTES) throw SecretKeyInvalid(`a secrets key must be ${KEY_BYTES} bytes`);
    this.key = key;
  }

  /**
   * The store over `<dataDir>/secrets.key` (created on first use). First settles a key rotation
   * that a crash interrupted: if any row is sealed with the pending key the rotation committed and
   * the pending key becomes the key; otherwise it never committed and the pending key is dropped.
   */
  static open(store: Store, dataDir: string): SecretStore {
    const pending = path.join(dataDir, NEXT_KEY_FILE);
    if (existsSync(pending)) {
      const next = readKeyFile(pending);
      const used = store.db
        .select({ name: secretsTable.name })
        .from(secretsTable)
        .where(eq(secretsTable.keyId, idOfKey(next)))
        .limit(1)
        .get();
      if (used) promoteNextKey(dataDir);
      else rmSync(pending, { force: true });
    }
    return new SecretStore(store, loadOrCreateKey(dataDir), dataDir);
  }

  /** The id of the key in use (a hash prefix; safe to show). */
  get keyId(): string {
    return idOfKey(this.key);
  }

  /** Creates or replaces a secret. */
  set(fn: string, name: string, value: string): SecretInfo & { created: boolean } {
    assertFunctionName(fn);
    assertSecretName(name);
    assertValue(name, value);
    const sealed = seal(this.key, fn, name, value);
    const now = this.now();
    const existing = this.store.db.select({ createdAt: secretsTable.createdAt }).from(secretsTable).where(oneSecret(fn, name)).get();
    const fresh = { nonce: sealed.nonce, ciphertext: sealed.ciphertext, tag: sealed.tag, keyId: this.keyId, updatedAt: now };
    // A replaced secret keeps its created_at.
    this.store.db
      .insert(secretsTable)
      .values({ fn, name, ...fresh, createdAt: now })
      .onConflictDoUpdate({ target: [secretsTable.fn, secretsTable.name], set: fresh })
      .run();
    return { name, createdAt: existing?.createdAt ?? now, updatedAt: now, created: !existing };
  }

  /** Names and timestamps of a function's secrets, sorted by name. */
  list(fn: string): SecretInfo[] {
    assertFunctionName(fn);
    return this.store.db
      .select({ name: secretsTable.name, createdAt: secretsTable.createdAt, updatedAt: secretsTable.updatedAt })
      .from(secretsTable)
      .where(eq(secretsTable.fn, fn))
      .orderBy(secretsTable.name)
      .all();
  }

  remove(fn: string, name: string): void {
    assertFunctionName(fn);
    assertSecretName(name);
    const res = this.store.db.delete(secretsTable).where(oneSecret(fn, name)).run();
    if (res.changes === 0) throw SecretNotFound(`function "${fn}" has no secret named ${name}`, { data: { function: fn, secret: name } });
  }

  /** Removes every secret of a function (when the function is removed); returns how many. */
  removeFunction(fn: string): number {
    return this.store.db.delete(secretsTable).where(eq(secretsTable.fn, fn)).run().changes;
  }

  /** A function's secrets in the clear, for the instance's environment after a restore. */
  resolve(fn: string): Record<string, string> {
    assertFunctionName(fn);
    const out: Record<string, string> = {};
    const rows = this.store.db.select().from(secretsTable).where(eq(secretsTable.fn, fn)).orderBy(secretsTable.name).all();
    for (const row of rows) out[row.name] = this.openRow(row);
    return out;
  }

  private openRow(row: Row, key = this.key): string {
    const value = open(key, row.fn, row.name, row);
    if (value !== null) return value;
    const current = idOfKey(key);
    const why =
      row.keyId !== current
        ? `it was sealed with key ${row.keyId} but ${KEY_FILE} is key ${current}; restore the key file it was written with, or set the secret again`
        : 'its ciphertext was altered or moved in the database; set the secret again';
    throw SecretCorrupt(`secret ${row.name} of function "${row.fn}" cannot be decrypted: ${why}`, { data: { function: row.fn, secret: row.name } });
  }

  /**
   * Re-seals every secret under a new random key. The new key is written to `secrets.key.next`
   * first, the rows are re-sealed in one transaction, then the file is renamed over
   * `secrets.key`. A crash at any point leaves a state `open` settles (see there).
   */
  rotateKey(): { rotated: number; keyId: string } {
    if (!this.dataDir) throw SecretKeyInvalid('this secret store was built from a bare key and cannot rotate it');
    const pending = path.join(this.dataDir, NEXT_KEY_FILE);
    const next = randomBytes(KEY_BYTES);
    const nextId = idOfKey(next);
    rmSync(pending, { force: true });
    writeKeyExclusive(pending, next);
    let rotated = 0;
    try {
      const reseal = this.store.sqlite.transaction(() => {
        const rows = this.store.db.select().from(secretsTable).all();
        for (const row of rows) {
          const sealed = seal(next, row.fn, row.name, this.openRow(row));
          this.store.db
            .update(secretsTable)
            .set({ ...sealed, keyId: nextId })
            .where(oneSecret(row.fn, row.name))
            .run();
        }
        return rows.length;
      });
      rotated = reseal.immediate();
    } catch (err) {
      rmSync(pending, { force: true });
      throw err;
    }
    // Committed: from here the new key is the key, whether or not the rename below succeeds.
    this.key = next;
    try {
      promoteNextKey(this.dataDir);
    } catch (err) {
      throw SecretKeyInvalid(
        `secrets were re-sealed but ${pending} could not replace the key file (${(err as Error).message}); the next start finishes the rotation`,
        { cause: err },
      );
    }
    return { rotated, keyId: nextId };
  }
}
