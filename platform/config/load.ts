/**
 * Loads the configuration: defaults ← ignition.config.ts (if present) ← environment variables.
 *
 * The config file is TypeScript, so it is bundled with esbuild into a temporary module and
 * imported; it may import helpers of its own. Environment overrides win so that one config file
 * serves several daemons (tests run many on temporary data dirs and ports).
 *
 * The data directory is also where the CLI finds the admin token, so when neither the
 * environment nor the config file names one, the daemon and the CLI (platform/cli/credentials.ts)
 * both take it from `defaultDataDir`, which does not depend on the working directory.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigInvalid, defaults, validateConfig, type IgnitionConfig } from './schema.ts';

/** Environment variable → config key (dotted for nested keys) and how to parse it. */
const envOverrides: Array<[string, string, (v: string) => unknown]> = [
  ['IGNITION_LISTEN', 'listen', String],
  ['IGNITION_DATA_DIR', 'dataDir', String],
  ['IGNITION_DRIVER', 'driver', String],
  ['IGNITION_LOG_LEVEL', 'logLevel', String],
  ['IGNITION_SANDBOX', 'sandbox', String],
  ['IGNITION_PROCESS_SPARES', 'processSpares', Number],
  ['IGNITION_FIRECRACKER_BIN', 'firecracker.binary', String],
  ['IGNITION_KERNEL', 'firecracker.kernel', String],
  ['IGNITION_ROOTFS', 'firecracker.rootfs', String],
  ['IGNITION_FIRECRACKER_START_TIMEOUT_MS', 'firecracker.startTimeoutMs', Number],
  ['IGNITION_FIRECRACKER_SPARES', 'firecracker.spares', Number],
  ['IGNITION_FIRECRACKER_NETWORK_SPARES', 'firecracker.networkSpares', Number],
  ['IGNITION_FIRECRACKER_DIFF_SNAPSHOTS', 'firecracker.diffSnapshots', String],
  ['IGNITION_NETWORK', 'network.enabled', (v) => (v === 'auto' ? 'auto' : !['0', 'false', 'off', 'no'].includes(v.toLowerCase()))],
];

/** The old default data directory, relative to the working directory; still used where it exists. */
export const LEGACY_DATA_DIR = '.ignition';

/**
 * The data directory when nothing names one: root's is `/var/lib/ignition` (a system service,
 * docs/GETTING-STARTED.md), a user's `$XDG_DATA_HOME/ignition`, by default
 * `~/.local/share/ignition`. A relative XDG_DATA_HOME is ignored, as the XDG base directory
 * specification says.
 */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  if (uid === 0) return '/var/lib/ignition';
  const xdg = env.XDG_DATA_HOME?.trim();
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME?.trim() || os.homedir(), '.local', 'share');
  return path.join(base, 'ignition');
}

/**
 * The old default `./.ignition` under `base` when a daemon used it (its database or admin token
 * is there, not only images an old `image build` put there), with
 * the notice to print; null otherwise. Such a directory keeps being used, so that an existing
 * set-up keeps its functions and token, and the notice says how to move to the new place.
 */
export function legacyDataDir(base: string, env: NodeJS.ProcessEnv = process.env, uid?: number): { dir: string; notice: string } | null {
  const dir = path.join(base, LEGACY_DATA_DIR);
  if (!existsSync(path.join(dir, 'ignition.db')) && !existsSync(path.join(dir, 'admin.token'))) return null;
  return { dir, notice: legacyNotice(dir, env, uid) };
}

/** The notice both the daemon and the CLI print when they use an old `./.ignition`. */
export function legacyNotice(dir: string, env: NodeJS.ProcessEnv = process.env, uid: number | undefined = process.getuid?.()): string {
  return (
    `notice: using ${dir}, the old default data directory (relative to the working directory); ` +
    `to use it from any directory, stop the daemon and move it to ${defaultDataDir(env, uid)}, or set IGNITION_DATA_DIR=${dir}`
  );
}

/**
 * The data directory as a program on the daemon's host finds it without reading a config file
 * (the CLI): IGNITION_DATA_DIR, else an old `./.ignition`, else the default. `loadConfig` takes
 * the same steps, with a config file's `dataDir` between the first two.
 */
export function findDataDir(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
  uid: number | undefined = process.getuid?.(),
): { dir: string; named: boolean; notice?: string } {
  const named = env.IGNITION_DATA_DIR?.trim();
  if (named) return { dir: path.resolve(cwd, named), named: true };
  const legacy = legacyDataDir(cwd, env, uid);
  if (legacy) return { dir: legacy.dir, named: false, notice: legacy.notice };
  return { dir: defaultDataDir(env, uid), named: false };
}

export interface LoadedConfig {
  config: IgnitionConfig;
  /** The file it came from, or null when only defaults and environment applied. */
  file: string | null;
}

export async function loadConfig(
  options: {
    file?: string;
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    /** The user the daemon runs as, which picks the default data directory (default: this process's). */
    uid?: number;
    /** Where the notice about an old `./.ignition` goes (default: stderr). */
    notice?: (line: string) => void;
  } = {},
): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const uid = 'uid' in options ? options.uid : process.getuid?.();
  const explicit = options.file ?? env.IGNITION_CONFIG;
  const file = explicit ? path.resolve(cwd, explicit) : path.join(cwd, 'ignition.config.ts');
  let user: Record<string, unknown> = {};
  let used: string | null = null;
  if (existsSync(file)) {
    user = await importConfigFile(file);
    used = file;
  } else if (explicit) {
    throw ConfigInvalid(`config file ${file} does not exist`);
  }
  const merged: Record<string, unknown> = {
    ...defaults,
    ...user,
    functions: { ...defaults.functions, ...(user.functions as object) },
    firecracker: { ...defaults.firecracker, ...(user.firecracker as object) },
    network: { ...defaults.network, ...(user.network as object) },
  };
  for (const [name, key, parse] of envOverrides) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const [a, b] = key.split('.');
    if (b) (merged[a] as Record<string, unknown>)[b] = parse(value);
    else merged[a] = parse(value);
  }
  const base = used ? path.dirname(used) : cwd;
  const named = (env.IGNITION_DATA_DIR !== undefined && env.IGNITION_DATA_DIR !== '') || user.dataDir !== undefined;
  if (!named) {
    // schema.ts's default is the old relative one; the choice between it and the new place is made here.
    const legacy = legacyDataDir(base, env, uid);
    if (legacy) (options.notice ?? ((line) => process.stderr.write(`${line}\n`)))(legacy.notice);
    merged.dataDir = legacy?.dir ?? defaultDataDir(env, uid);
  }
  const config = validateConfig(merged, used ?? 'defaults and environment');
  config.dataDir = path.resolve(base, config.dataDir);
  return { config, file: used };
}

async function importConfigFile(file: string): Promise<Record<string, unknown>> {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ignition-config-'));
  const out = path.join(dir, 'config.mjs');
  try {
    await build({ entryPoints: [file], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'silent', packages: 'external' });
    const mod = (await import(pathToFileURL(out).href)) as { default?: unknown };
    if (!mod.default || typeof mod.default !== 'object') {
      throw ConfigInvalid(`config file ${file} must export default defineConfig({...})`);
    }
    return mod.default as Record<string, unknown>;
  } catch (err) {
    if (err instanceof Error && 'errors' in err) {
      const first = (err as { errors: Array<{ text: string; location?: { file: string; line: number; column: number } }> }).errors[0];
      const where = first?.location ? `${first.location.file}:${first.location.line}:${first.location.column}: ` : '';
      throw ConfigInvalid(`cannot load ${file}: ${where}${first?.text ?? err.message}`, { cause: err });
    }
    throw err;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
