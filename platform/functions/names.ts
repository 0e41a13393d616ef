/**
 * Function names: they appear in URLs (`/fn/<name>/…`), file names and logs, so they are DNS
 * labels: lowercase letters, digits and hyphens, starting and ending with a letter or digit, at
 * most 63 characters. The message says what exactly is wrong.
 */
import { InvalidName } from '../errors.ts';

export const NAME_MAX = 63;
const NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function assertFunctionName(name: unknown, what = 'function name'): string {
  if (typeof name !== 'string' || name.length === 0) throw InvalidName(`${what} must be a non-empty string`);
  // Every invocation checks its name: the common case allocates nothing.
  if (name.length <= NAME_MAX && NAME_RE.test(name)) return name;
  const shown = JSON.stringify(name.replace(/\0/g, '\\0'));
  if (name.includes('\0')) throw InvalidName(`${what} ${shown} contains a NUL byte`);
  if (name.includes('/')) throw InvalidName(`${what} ${shown} contains "/"`);
  if (name.includes('..')) throw InvalidName(`${what} ${shown} contains ".."`);
  if (name.length > NAME_MAX) throw InvalidName(`${what} is ${name.length} characters long; the limit is ${NAME_MAX}`);
  if (!NAME_RE.test(name)) {
    throw InvalidName(`${what} ${shown} must use lowercase letters, digits and "-", and start and end with a letter or digit`);
  }
  return name;
}

/**
 * A valid function name close to `raw` (a directory or package name): lowercase, every run of
 * other characters one "-", no "-" at either end, at most NAME_MAX characters. Empty when nothing
 * of it is usable.
 */
export function suggestFunctionName(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, NAME_MAX)
    .replace(/^-+|-+$/g, '');
}

/** Alias names: in URLs (`/fn/<name>@<alias>/`) and logs beside function names, so the same rules. */
export function assertAliasName(name: unknown): string {
  return assertFunctionName(name, 'alias name');
}

/** The longest environment variable name, as for secret names. */
export const ENV_NAME_MAX = 128;

/** Environment variable names as POSIX shells accept them. */
export function assertEnvName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    throw InvalidName(`environment variable name ${JSON.stringify(name.replace(/\0/g, '\\0'))} must match [A-Za-z_][A-Za-z0-9_]*`);
  if (name.length > ENV_NAME_MAX) throw InvalidName(`environment variable name is ${name.length} characters long; the limit is ${ENV_NAME_MAX}`);
  return name;
}
