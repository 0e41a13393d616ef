/**
 * Where the CLI finds its admin token, first hit wins:
 *   1. `IGNITION_TOKEN` (CI, a remote daemon)
 *   2. `$IGNITION_DATA_DIR/admin.token` when IGNITION_DATA_DIR is set (the daemon's own data dir)
 *   3. `./.ignition/admin.token` relative to the working directory (the default data dir)
 * An explicitly set data directory is not second-guessed: if its file is missing the answer is
 * undefined rather than some other directory's token.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const TOKEN_FILE = 'admin.token';

function readTokenFile(file: string): string | undefined {
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token || undefined;
  } catch {
    return undefined;
  }
}

/** The token the CLI sends as `Authorization: Bearer …`, or undefined when there is none. */
export function readToken(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): string | undefined {
  const fromEnv = env.IGNITION_TOKEN?.trim();
  if (fromEnv) return fromEnv;
  const dataDir = env.IGNITION_DATA_DIR?.trim();
  if (dataDir) return readTokenFile(path.resolve(cwd, dataDir, TOKEN_FILE));
  return readTokenFile(path.join(cwd, '.ignition', TOKEN_FILE));
}
