/**
 * The first admin token. On the daemon's first start there is no way to call /v1 yet, so the
 * daemon issues an admin token itself and leaves it in `<dataDir>/admin.token` (mode 0600), where
 * the CLI on the same host finds it. Whoever can read the data directory already owns the
 * platform (database, snapshots, secrets key), so the file adds no new exposure.
 *
 * Later starts reuse the file while its token is still a live admin token; when it was revoked,
 * damaged or deleted, a fresh one replaces it. That is also the recovery path for someone who
 * revoked every admin token: restart the daemon.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { AuthTokenFile } from './errors.ts';
import type { TokenStore } from './tokens.ts';

export const ADMIN_TOKEN_FILE = 'admin.token';

export interface AdminTokenResult {
  /** Where the token is (for the daemon's start-up line; never log the token itself). */
  path: string;
  /** The token's id (`tok_…`). */
  id: string;
  /** True when a new token was issued on this start. */
  created: boolean;
}

/** Makes sure `<dataDir>/admin.token` holds a live admin token; see the module header. */
export function ensureAdminToken(dataDir: string, store: TokenStore): AdminTokenResult {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE);
  const existing = readExisting(file);
  if (existing !== undefined) {
    const record = store.verify(existing);
    if (record && record.scope === 'admin') {
      // Our own file: tighten it if someone loosened it, rather than leave a token world-readable.
      chmodSync(file, 0o600);
      return { path: file, id: record.id, created: false };
    }
  }
  const { id, token } = store.create({ name: 'bootstrap admin', scope: 'admin' });
  writeSecretFile(file, token + '\n');
  return { path: file, id, created: true };
}

function readExisting(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw AuthTokenFile(`cannot read the admin token file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Writes a file readable by its owner only, atomically: a temp file created 0600 (so the content
 * is never visible under looser permissions, whatever the umask), synced, then renamed over.
 */
export function writeSecretFile(file: string, content: string | Buffer): void {
  // Created private if missing; the daemon sets an existing data directory's mode at start (daemon.ts).
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, typeof content === 'string' ? Buffer.from(content, 'utf8') : content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw AuthTokenFile(`cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}
