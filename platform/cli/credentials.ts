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
 * Finding none, the CLI talking to the local daemon (no IGNITION_HOST) stops with
 * `cli_token_missing`, naming the file it tried and the ways to fix it; its requests would only
 * get the daemon's `unauthorized`, which cannot say where the CLI looked. With IGNITION_HOST the
 * daemon may be another host's, reached with IGNITION_TOKEN or not at all (invoking a public
 * function needs no token), so the lookup answers undefined and the daemon's answer stands.
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

/**
 * The token the CLI sends as `Authorization: Bearer …`, or undefined when there is none and a
 * daemon named by IGNITION_HOST is to answer for itself; throws `cli_token_missing` when there is
 * none for the local daemon (see the module header).
 */
export function readToken(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), uid: number | undefined = process.getuid?.()): string | undefined {
  const found = findToken(env, cwd, uid);
  if (found.notice) process.stderr.write(`${found.notice}\n`);
  if (found.token || env.IGNITION_HOST?.trim()) return found.token;
  throw missingToken(found.file!, found.named === true);
}

function missingToken(file: string, named: boolean) {
  const where = named ? `${file} (IGNITION_DATA_DIR)` : file;
  return CliTokenMissing(
    `no admin token: IGNITION_TOKEN is not set and ${where} cannot be read; run the CLI as the user the daemon runs as, ` +
      'or set IGNITION_DATA_DIR to the data directory the daemon printed when it started ("data: …"), or set IGNITION_TOKEN',
    { data: { tokenFile: file } },
  );
}
