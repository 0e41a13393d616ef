/**
 * The secrets key file, `<dataDir>/secrets.key`: 32 random bytes, mode 0600, owned by the user the
 * daemon runs as. It is created on first use; afterwards the daemon refuses to start when the file
 * is readable by group or others, belongs to someone else, or is not exactly 32 bytes, since
 * any of those means the key is exposed or is not the key the secrets were sealed with.
 *
 * Creation is race-free: the key is written to a private temp file and hard-linked into place,
 * which fails if another process got there first, and then that process's key is used.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { KEY_BYTES } from './crypto.ts';
import { SecretKeyInvalid } from './errors.ts';

export const KEY_FILE = 'secrets.key';
/** A key being rotated in; see SecretStore.rotateKey for how start-up settles it. */
export const NEXT_KEY_FILE = 'secrets.key.next';

/** Reads and checks a key file; throws `secret_key_invalid` with the fix in the message. */
export function readKeyFile(file: string): Buffer {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    throw SecretKeyInvalid(`cannot read the secrets key ${file}: ${(err as Error).message}`, { cause: err, data: { path: file } });
  }
  if (!st.isFile()) throw SecretKeyInvalid(`the secrets key ${file} is not a regular file`, { data: { path: file } });
  const mode = st.mode & 0o777;
  if (mode & 0o077) {
    const shown = mode.toString(8).padStart(4, '0');
    throw SecretKeyInvalid(
      `the secrets key ${file} has mode ${shown}, so users other than its owner can read it; run "chmod 600 ${file}" (and consider rotating the key)`,
      { data: { path: file, mode: shown } },
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw SecretKeyInvalid(`the secrets key ${file} belongs to uid ${st.uid} but the daemon runs as uid ${uid}; chown it to the daemon's user`, {
      data: { path: file },
    });
  }
  if (st.size !== KEY_BYTES) {
    throw SecretKeyInvalid(`the secrets key ${file} is ${st.size} bytes; it must be exactly ${KEY_BYTES} (restore the original file from backup)`, {
      data: { path: file, size: st.size },
    });
  }
  const key = readFileSync(file);
  if (key.length !== KEY_BYTES) throw SecretKeyInvalid(`the secrets key ${file} changed while it was read`, { data: { path: file } });
  return key;
}

/** Writes `key` to `file` (mode 0600) only if `file` does not exist yet; returns false if it did. */
export function writeKeyExclusive(file: string, key: Buffer): boolean {
  // Created private if missing; the daemon sets an existing data directory's mode at start (daemon.ts).
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, key);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  } catch (err) {
    throw SecretKeyInvalid(`cannot write the secrets key ${file}: ${(err as Error).message}`, { cause: err, data: { path: file } });
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** The data directory's key, created on first use. */
export function loadOrCreateKey(dataDir: string): Buffer {
  const file = path.join(dataDir, KEY_FILE);
  try {
    statSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return readKeyFile(file);
    writeKeyExclusive(file, randomBytes(KEY_BYTES));
  }
  return readKeyFile(file);
}

/** Moves the rotated-in key over the live one (atomic rename, then the directory is synced). */
export function promoteNextKey(dataDir: string): void {
  const from = path.join(dataDir, NEXT_KEY_FILE);
  const to = path.join(dataDir, KEY_FILE);
  renameSync(from, to);
  try {
    const fd = openSync(dataDir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself is still atomic.
  }
}
