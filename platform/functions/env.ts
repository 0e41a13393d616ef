/**
 * A deploy's `env`: plain configuration that reaches the function's machine as environment
 * variables, so it is held to what an environment can carry, as secrets are (secrets/store.ts):
 * POSIX names, string values without NUL (a NUL ends a C string: the value would be cut short, or
 * the start refused), and bounded sizes, so a deploy cannot make every start of its instances
 * carry megabytes or fail at exec. Values are never echoed in errors (env is sometimes misused
 * for credentials); names are.
 */
import { EnvInvalid } from './errors.ts';
import { assertEnvName } from './names.ts';

/** One value at most, as a secret's. */
export const ENV_VALUE_MAX_BYTES = 64 * 1024;
/** Names and values together at most (Linux allows 2 MiB of arguments and environment in all). */
export const ENV_TOTAL_MAX_BYTES = 256 * 1024;

export function validateEnv(env: unknown): Record<string, string> {
  if (env === undefined) return {};
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw EnvInvalid('"env" must be an object of strings');
  let total = 0;
  for (const [k, v] of Object.entries(env)) {
    assertEnvName(k);
    if (typeof v !== 'string') throw EnvInvalid(`environment variable ${k} must be a string`, { data: { name: k } });
    if (v.includes('\0')) throw EnvInvalid(`environment variable ${k} contains a NUL byte, which an environment variable cannot carry`, { data: { name: k } });
    const bytes = Buffer.byteLength(v);
    if (bytes > ENV_VALUE_MAX_BYTES) {
      throw EnvInvalid(`environment variable ${k} is ${bytes} bytes; the limit is ${ENV_VALUE_MAX_BYTES}`, { data: { name: k, limit: ENV_VALUE_MAX_BYTES } });
    }
    total += Buffer.byteLength(k) + bytes;
  }
  if (total > ENV_TOTAL_MAX_BYTES)
    throw EnvInvalid(`"env" is ${total} bytes in all; the limit is ${ENV_TOTAL_MAX_BYTES}`, { data: { limit: ENV_TOTAL_MAX_BYTES } });
  return env as Record<string, string>;
}

/**
 * A deploy's `envPatch`: names to set (a string) or remove (null), applied to the environment the
 * deploy starts from. Names are checked as `env`'s are; values are checked in the merged result.
 */
export function validateEnvPatch(patch: unknown): Record<string, string | null> {
  if (patch === undefined) return {};
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw EnvInvalid('"envPatch" must be an object of strings and nulls');
  for (const [k, v] of Object.entries(patch)) {
    assertEnvName(k);
    if (v !== null && typeof v !== 'string')
      throw EnvInvalid(`environment variable ${k} in "envPatch" must be a string, or null to remove it`, { data: { name: k } });
  }
  return patch as Record<string, string | null>;
}

export function applyEnvPatch(base: Record<string, string>, patch: Record<string, string | null>): Record<string, string> {
  // Entries rather than assignment: a name such as __proto__ stays a plain key.
  const env = new Map(Object.entries(base));
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) env.delete(k);
    else env.set(k, v);
  }
  return Object.fromEntries(env);
}

/** Which names a deploy adds, changes and removes (names only: values are never reported). */
export interface EnvChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

export function diffEnv(before: Record<string, string>, after: Record<string, string>): EnvChanges {
  const had = (o: Record<string, string>, k: string) => Object.hasOwn(o, k);
  return {
    added: Object.keys(after)
      .filter((k) => !had(before, k))
      .sort(),
    changed: Object.keys(after)
      .filter((k) => had(before, k) && before[k] !== after[k])
      .sort(),
    removed: Object.keys(before)
      .filter((k) => !had(after, k))
      .sort(),
  };
}
