/**
 * Where the CLI finds its admin token, first hit wins:
 *   1. `IGNITION_TOKEN` (CI, a remote daemon)
 *   2. `$IGNITION_DATA_DIR/admin.token` when IGNITION_DATA_DIR is set (the daemon's own data dir)
 *   3. `./.ignition/admin.token` when the working directory holds an old default data directory
 *      (with a notice on stderr)
 *   4. `admin.token` in the default data directory, the daemon's when it runs as the same user
 *      with no data directory named: platform/config/load.ts's `defaultDataDir`, which does not
 *      depend on the working directory.
 * An explicitly set data directory is not second-guessed: if its file is missing no other
 * directory's token is taken.
 *
 * Finding none is not an error by itself: invoking a public function needs no token. When the
 * daemon then refuses an admin request (`unauthorized`), the CLI answers `cli_token_missing`
 * instead (client.ts), naming the file it tried and the ways to fix it: the daemon's own answer
 * cannot say where the CLI looked.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { findDataDir } from '../config/load.ts';
import { CliTokenMissing } from './errors.ts';

export const TOKEN_FILE = 'admin.token';

function readTokenFile(file: string): string | undefined {
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token || undefined;
  } catch {
    return undefined;
  }
}

export interface TokenLookup {
  token: string | undefined;
  /** The token file tried, or null when IGNITION_TOKEN gave the token. */
  file: string | null;
  /** Whether IGNITION_DATA_DIR named the file's directory. */
  named?: boolean;
  /** Printed on stderr when the lookup used an old `./.ignition`. */
  notice?: string;
}

/** The lookup itself, with no output and no error. */
export function findToken(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), uid: number | undefined = process.getuid?.()): TokenLookup {
  const fromEnv = env.IGNITION_TOKEN?.trim();
  if (fromEnv) return { token: fromEnv, file: null };
  const dataDir = findDataDir(env, cwd, uid);
  const file = path.join(dataDir.dir, TOKEN_FILE);
  return { token: readTokenFile(file), file, named: dataDir.named, notice: dataDir.notice };
}

/** findToken, with its notice (an old `./.ignition` used) printed on stderr. */
export function readToken(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), uid: number | undefined = process.getuid?.()): TokenLookup {
  const found = findToken(env, cwd, uid);
  if (found.notice) process.stderr.write(`${found.notice}\n`);
  return found;
}

/** The error for an admin request refused while no token was found: where the CLI looked. */
export function missingToken(file: string, named: boolean) {
  const where = named ? `${file} (IGNITION_DATA_DIR)` : file;
  return CliTokenMissing(
    `no admin token: IGNITION_TOKEN is not set and ${where} cannot be read; run the CLI as the user the daemon runs as, ` +
      'or set IGNITION_DATA_DIR to the data directory the daemon printed when it started ("data: …"), or set IGNITION_TOKEN',
    { data: { tokenFile: file } },
  );
}
