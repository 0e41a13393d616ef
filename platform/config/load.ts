/**
 * Loads the configuration: defaults ← ignition.config.ts (if present) ← environment variables.
 *
 * The config file is TypeScript, so it is bundled with esbuild into a temporary module and
 * imported; it may import helpers of its own. Environment overrides win so that one config file
 * serves several daemons (tests run many on temporary data dirs and ports).
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

export interface LoadedConfig {
  config: IgnitionConfig;
  /** The file it came from, or null when only defaults and environment applied. */
  file: string | null;
}

export async function loadConfig(options: { file?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
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
  const config = validateConfig(merged, used ?? 'defaults and environment');
  config.dataDir = path.resolve(used ? path.dirname(used) : cwd, config.dataDir);
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
